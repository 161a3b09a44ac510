"""Prompt-cache writes land on the request row and are summed in every request rollup."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from collector.db import Request
from collector.db.models import (
    daily_project_rollups,
    daily_rollups,
    hourly_project_rollups,
    hourly_rollups,
)
from collector.recorder import write_batch
from tests.factories import make_event

AT = datetime(2026, 12, 1, 10, 15, tzinfo=UTC)


def test_cache_writes_are_stored_and_rolled_up(engine: Engine) -> None:
    events = [
        make_event(started_at=AT, prompt_tokens=3000, cache_write_tokens=2048),
        make_event(started_at=AT, prompt_tokens=2000, cache_write_tokens=1024),
        make_event(started_at=AT, prompt_tokens=10),
    ]
    write_batch(engine, events)
    with engine.connect() as conn:
        stored = conn.execute(select(Request.cache_write_tokens).order_by(Request.prompt_tokens))
        assert sorted(stored.scalars()) == [0, 1024, 2048]
        for table in (hourly_rollups, daily_rollups, hourly_project_rollups, daily_project_rollups):
            total = conn.execute(select(func.sum(table.c.cache_write_tokens))).scalar()
            assert total == 3072, table.name
