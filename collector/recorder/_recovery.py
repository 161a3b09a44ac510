"""Recovering the journals of gateway processes that died: write their events, or spool them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from collector.errors import StorageError
from collector.recorder import codec
from collector.recorder.events import UsageEvent
from collector.recorder.journal import Journal, forget
from collector.recorder.spool import Spool

log = logging.getLogger(__name__)
Write = Callable[[Sequence[UsageEvent], Sequence[bytes]], None]


@dataclass(slots=True)
class Recovered:
    events: int = 0  # events recovered from dead processes' journals
    spooled: bool = False  # some went to the spool (the database was down)


def adopt_orphans(journal: Journal, write: Write, spool: Spool, batch_size: int) -> Recovered:
    """Each orphaned segment's events written (in batches) or spooled, then the segment
    deleted; a segment neither can take stays for the next round."""
    done = Recovered()
    for path, raw in journal.orphans():
        try:
            _meta, events, lines, bad = codec.read_lines(raw)
        except codec.CodecError as exc:
            log.error("recorder: journal %s unreadable (%s); left in place", path, exc)
            continue
        stored = _store(events, lines, write, spool, batch_size)
        if stored is None:
            break  # neither database nor spool: the journal keeps them
        forget(path)
        done.events += len(events)
        done.spooled = done.spooled or stored
        log.warning("recorder: recovered %d events (%d unreadable lines) from %s",
                    len(events), bad, path.name)  # fmt: skip
    return done


def _store(
    events: list[UsageEvent], lines: list[bytes], write: Write, spool: Spool, size: int
) -> bool | None:
    """False: all written; True: the rest spooled; None: neither could take them."""
    for at in range(0, len(events), size):
        try:
            write(events[at : at + size], lines[at : at + size])
            continue
        except StorageError as exc:
            log.info("recorder: recovered journal goes to the spool: %s", exc)
        try:
            spool.append(lines[at:], reason="recovered journal; database unavailable")
        except OSError:
            return None
        return True
    return False
