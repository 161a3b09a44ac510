"""Several gateways' writers adding to the same rollup rows at once (PostgreSQL): every batch
is written, none deadlocks, and the rollups hold every request once.

Each gateway host's writer process upserts the rollups of its batch in one statement; the
rows are locked in the order the statement sends them. Two writers whose batches met the same
hours, models and projects in different orders used to lock them in opposite orders and
deadlock (PostgreSQL then aborts one batch: it was retried or spooled, and throughput fell).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from collector.db import make_engine
from collector.db.models import daily_project_rollups, hourly_rollups
from collector.recorder import UsageEvent, write_batch
from tests.factories import make_event

KEYS = 120  # distinct rollup rows each batch adds to (one model each)
ROUNDS = 6
AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _batch(order: range) -> list[UsageEvent]:
    return [
        make_event(model_served=f"model-{n:03d}", started_at=AT + timedelta(milliseconds=n))
        for n in order
    ]


def test_writers_meeting_the_same_rollup_rows_in_opposite_orders_never_deadlock(
    pg_migrated_url: str,
) -> None:
    engine = make_engine(pg_migrated_url)
    orders = (range(KEYS), range(KEYS - 1, -1, -1))
    start = threading.Barrier(len(orders))
    failures: list[BaseException] = []

    def writer(order: range) -> None:
        for _ in range(ROUNDS):
            batch = _batch(order)
            start.wait()  # both statements run at once, each locking its rows in turn
            try:
                write_batch(engine, batch)
            except Exception as exc:
                failures.append(exc)

    threads = [threading.Thread(target=writer, args=(order,)) for order in orders]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, [str(f)[:200] for f in failures]
        with engine.connect() as conn:
            for table in (hourly_rollups, daily_project_rollups):
                rows = conn.execute(select(func.count(), func.sum(table.c.requests))).one()
                assert tuple(rows) == (KEYS, KEYS * ROUNDS * len(orders)), table.name
    finally:
        engine.dispose()
