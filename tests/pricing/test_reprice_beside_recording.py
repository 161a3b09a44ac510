"""Repricing recent days while gateways record into the same hours (PostgreSQL): no batch on
either side deadlocks, and the rollups still equal the raw rows.

A reprice batch moves rollup rows in its own order; a recorder batch upserts them in key
order. Both hold their rows to the end of their transaction, so a reprice holding some rows
a writer needed while waiting for rows that writer held deadlocked: PostgreSQL aborted one
side (about one writer batch in two seconds, in a run beside two writers). The recorder takes
a shared advisory lock and reprice an exclusive one first (``dbapi.ROLLUP_WRITERS_LOCK``).
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from collector.db import make_engine
from collector.errors import StorageError
from collector.pricing.reprice import RepriceWindow, reprice
from collector.recorder import UsageEvent, write_batch
from tests.factories import make_event
from tests.pricing.test_pricing_reprice import assert_rollups_equal_raw

T = datetime(2026, 12, 7, 10, tzinfo=UTC)
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1")
WRITER_BATCHES = 12


def _events(rng: random.Random, n: int) -> list[UsageEvent]:
    """Recorded at a price the catalog disagrees with, so every reprice changes them."""
    out = []
    for _ in range(n):
        model = rng.choice(MODELS)
        out.append(
            make_event(
                started_at=T + timedelta(seconds=rng.randrange(7200)),
                model_requested=model,
                model_served=model,
                end_user=rng.choice("abc"),
                upstream=rng.choice(("x", "y")),
                tags={"team": rng.choice("pq")},
                cost_usd=Decimal("0.0001"),
            )
        )
    return out


def test_reprice_beside_two_writers_never_deadlocks(pg_migrated_url: str) -> None:
    engine = make_engine(pg_migrated_url)
    write_batch(engine, _events(random.Random(1), 1000))
    failures: list[BaseException] = []
    writing = threading.Event()
    writing.set()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(WRITER_BATCHES):
                write_batch(engine, _events(rng, 200))
        except StorageError as exc:
            failures.append(exc)

    def repricer() -> None:
        window = RepriceWindow(T, T + timedelta(hours=2))
        try:
            while writing.is_set():
                reprice(engine, window, now=datetime.now(UTC), batch_size=200)
        except Exception as exc:
            failures.append(exc)

    writers = [threading.Thread(target=writer, args=(seed,)) for seed in (2, 3)]
    pricing = threading.Thread(target=repricer)
    pricing.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    writing.clear()
    pricing.join()
    try:
        assert not failures, [str(f)[:300] for f in failures]
        assert_rollups_equal_raw(engine)
    finally:
        engine.dispose()
