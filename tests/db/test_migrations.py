"""Migrations on both databases: upgrade → no drift → downgrade → upgrade again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, delete, inspect, select

from collector.db import Attempt, Request, make_engine
from collector.db.migrate import alembic_config, check, downgrade_base, upgrade_head
from collector.db.models import (
    daily_project_rollups,
    daily_upstream_rollups,
    hourly_project_rollups,
)
from collector.recorder import write_batch
from tests.factories import make_event, make_key, make_project


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


def _project_rollups(engine: Engine) -> dict[tuple[Any, ...], dict[str, Any]]:
    out = {}
    with engine.connect() as conn:
        for table in (hourly_project_rollups, daily_project_rollups):
            keys = [c.name for c in table.primary_key.columns]
            for row in conn.execute(select(table)).mappings():
                out[(table.name, *(row[k] for k in keys))] = dict(row)
    return out


def test_0010_backfills_the_project_rollups_as_the_recorder_writes_them(db_url: str) -> None:
    upgrade_head(db_url)
    engine = make_engine(db_url)
    try:
        projects = [make_project(engine, "p1"), make_project(engine, "p2")]
        keys = [make_key(engine, p, f"sk-{p}-{n}") for p in projects for n in (1, 2)]
        start = datetime(2026, 11, 1, 22, 40, tzinfo=UTC)  # hours of two UTC days
        events = [
            make_event(
                started_at=start + timedelta(minutes=7 * i),
                project_id=projects[i % 2],
                api_key_id=None if i % 5 == 0 else keys[i % 4],
                end_user=f"u{i % 4}",
                model_served=("gpt-4o", "gpt-4o-mini", None)[i % 3],
                outcome="timeout" if i % 7 == 0 else "success",
                duration_ms=10.0 + 37 * i,
                stream=i % 2 == 0,
                ttft_ms=1.5 * i if i % 2 == 0 else None,
                cost_usd=None if i % 6 == 0 else Decimal("0.0000000001") * (i + 1),
            )
            for i in range(40)
        ]
        write_batch(engine, events)
        written = _project_rollups(engine)
        assert len(written) > 8  # several rows per table, each summed over keys and users
        command.downgrade(alembic_config(db_url), "0009")
        assert "hourly_project_rollups" not in inspect(engine).get_table_names()
        upgrade_head(db_url)
        backfilled = _project_rollups(engine)
    finally:
        engine.dispose()
    assert backfilled.keys() == written.keys()
    for key, row in written.items():
        for column, value in row.items():
            if isinstance(value, float):
                assert backfilled[key][column] == pytest.approx(value), (key, column)
            else:
                assert backfilled[key][column] == value, (key, column)


def _upstream_rollups(engine: Engine) -> dict[tuple[Any, ...], dict[str, Any]]:
    keys = [c.name for c in daily_upstream_rollups.primary_key.columns]
    with engine.connect() as conn:
        rows = conn.execute(select(daily_upstream_rollups)).mappings()
        return {tuple(row[k] for k in keys): dict(row) for row in rows}


def test_0033_backfills_the_upstream_rollups_as_the_recorder_writes_them(db_url: str) -> None:
    upgrade_head(db_url)
    engine = make_engine(db_url)
    try:
        start = datetime(2026, 11, 1, 22, 40, tzinfo=UTC)  # two UTC days
        events = [
            make_event(
                started_at=start + timedelta(minutes=7 * i),
                upstream=("primary", "backup", None, "")[i % 4],
                model_served=("gpt-4o", "", None)[i % 3],
                outcome="timeout" if i % 7 == 0 else "success",
                cost_source=("computed", "unpriced", "estimated")[i % 3],
                cost_usd=None if i % 3 == 1 else Decimal("0.0000000001") * (i + 1),
                cached_tokens=i,
            )
            for i in range(40)
        ]
        write_batch(engine, events)
        written = _upstream_rollups(engine)
        assert len(written) > 8 and {k[1] for k in written} == {"primary", "backup", "default"}
        command.downgrade(alembic_config(db_url), "0032")
        assert "daily_upstream_rollups" not in inspect(engine).get_table_names()
        # retention removed part of the first day (it keeps unpriced rows): a partial day
        with engine.begin() as conn:
            gone = select(Request.id).where(Request.started_at < datetime(2026, 11, 2, tzinfo=UTC))
            gone = gone.where(Request.cost_source != "unpriced")
            conn.execute(delete(Attempt).where(Attempt.request_id.in_(gone)))
            conn.execute(delete(Request).where(Request.id.in_(gone)))
        upgrade_head(db_url)
        backfilled = _upstream_rollups(engine)
    finally:
        engine.dispose()
    first_day = datetime(2026, 11, 1, tzinfo=UTC)
    assert backfilled == {k: v for k, v in written.items() if k[0] != first_day}
    assert any(k[0] == first_day for k in written)  # the partial day, left out whole
