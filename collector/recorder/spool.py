"""A durable on-disk spool for batches the database could not take.

One file per batch, written to a temporary name, fsynced, then renamed into place (and the
directory fsynced), so a crash never leaves a half-written batch visible. Names sort by time,
so replay is in order. A file that cannot be parsed is moved to ``quarantine/`` with a log
line — never fatal, never deleted. Replay holds an exclusive ``flock`` on each file, so
several processes sharing a spool directory never replay the same batch at once.
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from collector.recorder.events import UsageEvent, event_from_json, event_to_json

log = logging.getLogger(__name__)
_SUFFIX = ".batch.json"


class Spool:
    """Append batches; replay them oldest first through a writer callback."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.quarantine_dir = directory / "quarantine"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq = itertools.count()

    def append(self, events: Sequence[UsageEvent]) -> Path:
        """Persist a batch durably; returns its file."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):06d}{_SUFFIX}"
        final = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        payload = orjson.dumps({"v": 1, "events": [event_to_json(e) for e in events]})
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        self._fsync_dir()
        return final

    def pending(self) -> list[Path]:
        return sorted(self.directory.glob(f"*{_SUFFIX}"))

    def pending_events(self) -> int:
        """How many events wait on disk (reads every file: for status, not hot paths)."""
        total = 0
        for path in self.pending():
            try:
                total += len(orjson.loads(path.read_bytes())["events"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return total

    def replay(self, write: Callable[[list[UsageEvent]], object]) -> int:
        """Write every pending batch in order; stops at the first failure (which propagates).

        Returns the number of batches replayed. A batch file is removed only after ``write``
        returned, so a crash mid-replay replays it again (the writer is idempotent).
        """
        done = 0
        for path in self.pending():
            try:
                fh = open(path, "rb")  # noqa: SIM115 - held open for the flock
            except FileNotFoundError:
                continue  # another process replayed it
            with fh:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                if not path.exists():
                    continue
                events = self._parse(path, fh.read())
                if events is not None:
                    write(events)
                    path.unlink(missing_ok=True)
                    done += 1
        return done

    def _parse(self, path: Path, raw: bytes) -> list[UsageEvent] | None:
        try:
            data = orjson.loads(raw)
            return [event_from_json(item) for item in data["events"]]
        except (ValueError, KeyError, TypeError) as exc:
            self.quarantine(path, reason=f"{exc.__class__.__name__}: {exc}")
            return None

    def quarantine(self, path: Path, *, reason: str) -> Path:
        """Move an unreadable or rejected batch aside, keeping it for a human."""
        self.quarantine_dir.mkdir(exist_ok=True)
        target = self.quarantine_dir / path.name
        os.replace(path, target)
        log.error("spool: quarantined %s (%s)", target, reason[:300])
        return target

    def quarantine_events(self, events: Sequence[UsageEvent], *, reason: str) -> Path:
        """Persist events the database rejects as data, straight into quarantine."""
        return self.quarantine(self.append(events), reason=reason)

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
