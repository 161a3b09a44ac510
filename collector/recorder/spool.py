"""A durable on-disk spool for batches the database could not take.

One file per batch (a header line, then one line per event: see :mod:`.codec`), written to
a temporary name, fsynced, then renamed into place (and the directory fsynced), so a crash
never leaves a half-written batch visible. Names sort by time, so replay is in order. A file
that cannot be read is moved to ``quarantine/`` — never fatal, never deleted. Replay holds
an exclusive ``flock`` on each file, so processes sharing a spool directory never replay the
same batch at once. Files of the earlier JSON format (``.batch.json``) are still read.

``quarantine/`` also takes the events the database refused as data even after they were
made storable (a last resort, counted and alerted); ``spendscope spool quarantine`` lists
them and re-drives them after a fix.
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from collector.recorder import codec
from collector.recorder.events import UsageEvent, event_from_json

log = logging.getLogger(__name__)
SUFFIX = ".batch.jsonl"
_OLD_SUFFIX = ".batch.json"  # the format before the shared codec: {"v": 1, "events": [...]}
Write = Callable[[list[UsageEvent], list[bytes]], object]


@dataclass(frozen=True, slots=True)
class SpoolFile:
    """A spooled batch, read: its events, their lines, and why it is where it is."""

    path: Path
    events: list[UsageEvent]
    lines: list[bytes]
    reason: str | None
    unreadable: int = 0


class Spool:
    """Append batches; replay them oldest first through a writer callback."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.quarantine_dir = directory / "quarantine"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq = itertools.count()

    def append(self, lines: Sequence[bytes], *, reason: str | None = None) -> Path:
        """Persist a batch of encoded events durably; returns its file.

        Raises ``OSError`` when the disk cannot take it (full, read-only): the caller keeps
        the events. Nothing half-written is left visible.
        """
        return self._write(self.directory, lines, reason)

    def _write(self, folder: Path, lines: Sequence[bytes], reason: str | None) -> Path:
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):06d}{SUFFIX}"
        final, tmp = folder / name, folder / f".{name}.tmp"
        extra = {"reason": reason[:2000]} if reason else {}
        try:
            with open(tmp, "wb") as fh:
                fh.write(codec.header(**extra))
                fh.writelines(lines)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(folder)
        return final

    def pending(self) -> list[Path]:
        found = [*self.directory.glob(f"*{SUFFIX}"), *self.directory.glob(f"*{_OLD_SUFFIX}")]
        return sorted(found, key=lambda p: p.name)

    def pending_events(self) -> int:
        """How many events wait on disk (reads every file: for status, not hot paths)."""
        total = 0
        for path in self.pending():
            try:
                total += len(self.read(path).events)
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return total

    def pending_bytes(self) -> int:
        total = 0
        for path in self.pending():
            try:
                total += path.stat().st_size
            except OSError:
                continue
        return total

    def quarantined(self) -> list[Path]:
        if not self.quarantine_dir.is_dir():
            return []
        found = [*self.quarantine_dir.glob(f"*{SUFFIX}"), *self.quarantine_dir.glob("*.json")]
        return sorted(found, key=lambda p: p.name)

    def replay(self, write: Write) -> int:
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
                batch = self._parse(path, fh.read())
                if batch is not None:
                    write(batch.events, batch.lines)
                    path.unlink(missing_ok=True)
                    done += 1
        return done

    def read(self, path: Path) -> SpoolFile:
        """A spool or quarantine file's events; ``codec.CodecError`` when it is no such file."""
        return read_file(path, path.read_bytes())

    def _parse(self, path: Path, raw: bytes) -> SpoolFile | None:
        try:
            return read_file(path, raw)
        except (codec.CodecError, ValueError, KeyError, TypeError) as exc:
            self.quarantine(path, reason=f"{exc.__class__.__name__}: {exc}")
            return None

    def quarantine(self, path: Path, *, reason: str) -> Path:
        """Move an unreadable batch aside, keeping it for a human."""
        self.quarantine_dir.mkdir(exist_ok=True)
        target = self.quarantine_dir / path.name
        os.replace(path, target)
        log.error("spool: quarantined %s (%s)", target, reason[:300])
        return target

    def quarantine_lines(self, lines: Sequence[bytes], *, reason: str) -> Path:
        """Persist events the database refuses as data straight into quarantine (with why)."""
        self.quarantine_dir.mkdir(exist_ok=True)
        target = self._write(self.quarantine_dir, lines, reason)
        log.error("spool: quarantined %d events in %s (%s)", len(lines), target, reason[:300])
        return target


def read_file(path: Path, raw: bytes) -> SpoolFile:
    """Parse a spool file of either format."""
    if path.name.endswith(_OLD_SUFFIX):
        data = orjson.loads(raw)
        events = [event_from_json(item) for item in data["events"]]
        return SpoolFile(path, events, [codec.encode(e) for e in events], data.get("reason"))
    meta, events, lines, bad = codec.read_lines(raw)
    reason = meta.get("reason")
    return SpoolFile(path, events, lines, reason if isinstance(reason, str) else None, bad)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
