"""What an operator does with quarantined events: look at them, and re-drive them after a fix.

Quarantine is the last resort for events the database refused as data even after they were
made storable (and for spool files that could not be read). Re-driving a file makes each of
its events storable again with this version's repairs and writes them (idempotently: rows
already stored are skipped); the events still refused stay in quarantine, in a new file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from collector.errors import StorageError
from collector.recorder import codec
from collector.recorder.events import UsageEvent
from collector.recorder.spool import Spool
from collector.recorder.storable import make_storable
from collector.recorder.writer import PoisonBatch, write_batch


@dataclass(frozen=True, slots=True)
class QuarantinedFile:
    """One quarantined batch, as listed."""

    name: str
    events: int
    request_ids: list[str]
    reason: str | None
    unreadable: int = 0
    error: str | None = None  # why the file itself cannot be read

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.name,
            "events": self.events,
            "request_ids": self.request_ids,
            "reason": self.reason,
            "unreadable_lines": self.unreadable,
            "error": self.error,
        }


@dataclass(slots=True)
class Redrive:
    """What a re-drive did: events stored, already there, still refused; files emptied."""

    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    cleared: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def list_quarantine(spool: Spool) -> list[QuarantinedFile]:
    out = []
    for path in spool.quarantined():
        try:
            batch = spool.read(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            out.append(QuarantinedFile(path.name, 0, [], None, error=f"{exc}"[:300]))
            continue
        ids = [e.id for e in batch.events]
        out.append(QuarantinedFile(path.name, len(ids), ids, batch.reason, batch.unreadable))
    return out


def redrive(spool: Spool, engine: Engine, names: list[str] | None = None) -> Redrive:
    """Write the quarantined events (of the named files, or all); raises ``StorageError``
    when the database cannot be reached (nothing is removed then)."""
    result = Redrive()
    for path in spool.quarantined():
        if names and path.name not in names:
            continue
        try:
            batch = spool.read(path)
        except (OSError, ValueError, KeyError, TypeError):
            result.unreadable.append(path.name)
            continue
        refused = _write_each(engine, batch.events, result)
        if refused:
            spool.quarantine_lines([codec.encode(e) for e in refused], reason=batch.reason or "")
        path.unlink()
        result.cleared.append(path.name)
    return result


def _write_each(engine: Engine, events: list[UsageEvent], result: Redrive) -> list[UsageEvent]:
    refused = []
    for event in events:
        make_storable(event)
        try:
            new = write_batch(engine, [event])
        except PoisonBatch:
            refused.append(event)
            result.refused += 1
            continue
        except StorageError:
            raise
        result.stored += new
        result.duplicates += 1 - new
    return refused
