"""Write the generated history through the recorder's own write path, in batches, timed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine

from collector.recorder import UsageEvent, write_batch

BATCH_SIZE = 5000


@dataclass(frozen=True, slots=True)
class BackfillReport:
    """How much history was written and how fast (events/s, generating included).

    ``events`` counts new rows; ``attempts`` and ``cost_usd`` total the events handed in
    (the same on a fresh database; ids already stored are skipped by ``write_batch``).
    """

    events: int
    attempts: int
    cost_usd: Decimal
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def backfill(
    engine: Engine,
    events: Iterable[UsageEvent],
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> BackfillReport:
    """Write ``events`` with :func:`write_batch` (idempotent on id, rollups in the same
    transaction), exactly as the background recorder does — never with raw INSERTs."""
    t0 = time.perf_counter()
    written = attempts = 0
    cost = Decimal(0)
    batch: list[UsageEvent] = []
    for event in events:
        batch.append(event)
        if len(batch) >= batch_size:
            written += write_batch(engine, batch)
            attempts, cost = _tally(batch, attempts, cost)
            batch = []
            if progress is not None:
                progress(written)
    if batch:
        written += write_batch(engine, batch)
        attempts, cost = _tally(batch, attempts, cost)
        if progress is not None:
            progress(written)
    return BackfillReport(written, attempts, cost, time.perf_counter() - t0)


def _tally(batch: list[UsageEvent], attempts: int, cost: Decimal) -> tuple[int, Decimal]:
    attempts += sum(len(e.attempts) for e in batch)
    cost += sum((e.cost_usd for e in batch if e.cost_usd is not None), Decimal(0))
    return attempts, cost
