"""Built-in tool calls land on the request row and are summed in every request rollup."""

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
from collector.usage import TOOL_CALL_FIELDS
from tests.factories import make_event

AT = datetime(2026, 12, 1, 10, 15, tzinfo=UTC)


def test_tool_calls_are_stored_and_rolled_up(engine: Engine) -> None:
    events = [
        make_event(started_at=AT, **{name: i + 1 for i, name in enumerate(TOOL_CALL_FIELDS)}),
        make_event(started_at=AT, web_search_calls=5),
        make_event(started_at=AT),
    ]
    write_batch(engine, events)
    expected = {name: i + 1 for i, name in enumerate(TOOL_CALL_FIELDS)}
    expected["web_search_calls"] += 5
    with engine.connect() as conn:
        stored = conn.execute(select(func.sum(Request.web_search_calls))).scalar()
        assert stored == 6
        for table in (hourly_rollups, daily_rollups, hourly_project_rollups, daily_project_rollups):
            sums = conn.execute(select(*(func.sum(table.c[n]) for n in TOOL_CALL_FIELDS))).one()
            assert dict(zip(TOOL_CALL_FIELDS, sums, strict=True)) == expected, table.name
