"""What the recorder counts, and whether the record is whole right now.

``/healthz`` says ``ok`` only while :func:`health_reasons` finds nothing: every event is
written within the lag bound, nothing waits in the spool or in quarantine, nothing was
dropped, the journal and the spool can be written, the disk has room, and no writer had to
be restarted lately. Each reason is one line an operator can act on.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector.recorder.service import Recorder


@dataclass(slots=True)
class RecorderStats:
    """Counters an operator reads to see that nothing was lost (all since start)."""

    submitted: int = 0
    written: int = 0
    duplicates: int = 0
    spooled: int = 0
    overflowed: int = 0
    replayed_batches: int = 0
    quarantined: int = 0
    write_failures: int = 0
    dropped: int = 0  # events neither stored, spooled, quarantined nor kept in memory
    sanitised: int = 0  # events with a value repaired when taken in
    adopted: int = 0  # events recovered from the journals of dead processes
    direct: int = 0  # re-readable lines (Batch API files) written without the journal
    spool_failures: int = 0
    loop_errors: int = 0
    loop_restarts: int = 0


def health_reasons(recorder: Recorder) -> dict[str, str]:
    """Why the record lags or lost something, by code (empty when recording works)."""
    cfg, stats, reasons = recorder.config, recorder.stats, {}
    age = recorder.oldest_unwritten_age_s
    if age > cfg.lag_bound_s:
        reasons["lag"] = (
            f"an event has waited {age:.0f} s to be written (bound {cfg.lag_bound_s:g} s)"
        )
    if recorder.spool_pending:
        reasons["spool"] = f"{len(recorder.spool.pending())} spooled batches wait for the database"
    if recorder.spool_failing:
        reasons["spool_unwritable"] = "the spool directory cannot be written; events wait in memory"
    journal = recorder.journal
    if journal is not None and journal.failing:
        reasons["journal"] = "the journal cannot be written; answered requests are not crash-safe"
    quarantined = len(recorder.spool.quarantined())
    if quarantined:
        reasons["quarantine"] = (
            f"{quarantined} quarantined batches: see `spendscope spool quarantine list`"
        )
    if stats.dropped:
        reasons["dropped"] = f"{stats.dropped} events dropped since start (see the log)"
    reasons.update(_restarts(recorder))
    free = _free_bytes(recorder)
    if free is not None and free < cfg.min_free_bytes:
        reasons["disk"] = (
            f"{free >> 20} MiB free under the spool (under {cfg.min_free_bytes >> 20})"
        )
    return reasons


def _restarts(recorder: Recorder) -> dict[str, str]:
    found = {}
    if recorder.stats.loop_restarts:
        found["loop_restarted"] = (
            f"the write loop was restarted {recorder.stats.loop_restarts} times"
        )
    restarted = getattr(recorder.writer, "restarted_at", None)
    if restarted is not None:
        ago = time.monotonic() - restarted
        if ago < recorder.config.restart_window_s:
            found["writer_restarted"] = f"the writer process was restarted {ago:.0f} s ago"
    return found


def _free_bytes(recorder: Recorder) -> int | None:
    try:
        return shutil.disk_usage(recorder.spool.directory).free
    except OSError:
        return None
