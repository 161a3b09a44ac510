"""Migrations on both databases: upgrade → no drift → downgrade → upgrade again."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import inspect

from collector.db import make_engine
from collector.db.migrate import check, downgrade_base, upgrade_head
from collector.recorder import write_batch
from tests.factories import make_event


def test_upgrade_check_downgrade_upgrade(db_url: str) -> None:
    upgrade_head(db_url)
    check(db_url)  # raises on drift between models and migrations
    engine = make_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
        expected = {"requests", "attempts", "projects", "api_keys", "budgets", "hourly_rollups"}
        assert expected <= tables
        downgrade_base(db_url)
        assert "requests" not in set(inspect(engine).get_table_names())
        upgrade_head(db_url)
        assert "requests" in set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_money_round_trips_exactly(engine) -> None:  # type: ignore[no-untyped-def]
    costs = [Decimal("0.0000000050"), Decimal("123456.1234567891"), Decimal("0.1")]
    write_batch(engine, [make_event(cost_usd=c) for c in costs])
    with engine.connect() as conn:
        from sqlalchemy import func, select

        from collector.db import Request, hourly_rollups

        stored = sorted(conn.scalars(select(Request.cost_usd)))
        total = conn.scalar(select(func.sum(hourly_rollups.c.cost_usd)))
    assert stored == sorted(costs)
    assert total == sum(costs)
