"""Writing one batch so that bad data costs only itself: a batch the database rejects as data
(poison) is bisected until only the events that still fail remain, and those are quarantined.

Used by the recorder for its own batches and for what it replays (spool, orphaned journals).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from collector.recorder._health import RecorderStats
from collector.recorder._switch import QUICK_SWITCHES
from collector.recorder.events import UsageEvent
from collector.recorder.sink import BatchWriter
from collector.recorder.spool import Spool
from collector.recorder.writer import PoisonBatch

log = logging.getLogger("collector.recorder.service")  # the recorder's own log, as before


def write_isolating_poison(
    writer: BatchWriter, spool: Spool, stats: RecorderStats,
    events: Sequence[UsageEvent], lines: Sequence[bytes],
) -> None:  # fmt: skip
    """Write a batch with quick thread switches; poison is bisected and quarantined.

    Raises what the writer raises for anything but poison (the database unavailable).
    """
    with QUICK_SWITCHES:
        _write_split(writer, spool, stats, events, lines)


def _write_split(
    writer: BatchWriter, spool: Spool, stats: RecorderStats,
    events: Sequence[UsageEvent], lines: Sequence[bytes],
) -> None:  # fmt: skip
    try:
        new = writer.write(events, lines)
    except PoisonBatch as exc:
        if len(events) == 1:
            quarantine(spool, stats, lines, str(exc))
            return
        mid = len(events) // 2
        _write_split(writer, spool, stats, events[:mid], lines[:mid])
        _write_split(writer, spool, stats, events[mid:], lines[mid:])
        return
    stats.written += new
    stats.duplicates += len(events) - new


def quarantine(spool: Spool, stats: RecorderStats, lines: Sequence[bytes], why: str) -> None:
    """Keep ``lines`` in the quarantine; if even that fails, in the log, counted as dropped."""
    try:
        spool.quarantine_lines(lines, reason=why)
        stats.quarantined += len(lines)
    except OSError as exc:
        stats.dropped += len(lines)
        for line in lines:  # the last place it can be kept: the log
            log.error("recorder: DROPPED event (%s; quarantine unwritable: %s): %s",
                      why, exc, line.decode(errors="replace"))  # fmt: skip
