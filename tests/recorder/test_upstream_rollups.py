"""The recorder sums every request into the daily upstream rollups (one row per UTC day,
upstream, model and outcome), in the batch's transaction, exactly as the raw rows add up."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from collector.db import Request
from collector.db.models import daily_upstream_rollups
from collector.recorder import UsageEvent, write_batch
from tests.factories import make_event

START = datetime(2026, 11, 1, 22, 40, tzinfo=UTC)  # the events span two UTC days


def _events(n: int, offset: int = 0) -> list[UsageEvent]:
    return [
        make_event(
            started_at=START + timedelta(minutes=9 * (i + offset)),
            upstream=("primary", "secondary", None, "")[i % 4],
            model_served=("gpt-4o", None)[i % 2],
            outcome=("success", "success", "upstream_error", "blocked")[i % 4 if i % 3 else 0],
            cost_source=("computed", "unpriced", "estimated")[i % 3],
            cost_usd=None if i % 3 == 1 else Decimal("0.0000000001") * (i + 7),
            cached_tokens=i,
        )
        for i in range(n)
    ]


def _from_raw(engine: Engine) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    sums: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0, Decimal(0)])
    with engine.connect() as conn:
        for r in conn.execute(select(Request.__table__)):
            day = r.started_at.replace(hour=0, minute=0, second=0, microsecond=0)
            model = r.model_served or r.model_requested or ""
            row = sums[(day, r.upstream or "default", model, r.outcome)]
            row[0] += 1
            row[1] += r.prompt_tokens
            row[2] += r.cached_tokens
            row[3] += r.completion_tokens
            row[4] += r.cost_source == "unpriced"
            row[5] += r.cost_source == "estimated"
            row[6] += r.cost_usd or Decimal(0)
    return {k: tuple(v) for k, v in sums.items()}


def _stored(engine: Engine) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    t = daily_upstream_rollups.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.day, t.upstream, t.model, t.outcome, t.requests, t.prompt_tokens,
                   t.cached_tokens, t.completion_tokens, t.unpriced_requests,
                   t.estimated_requests, t.cost_usd)
        )  # fmt: skip
        return {tuple(row[:4]): tuple(row[4:]) for row in rows}


def test_the_upstream_rollups_equal_the_raw_rows_over_batches(engine: Engine) -> None:
    first = _events(40)
    assert write_batch(engine, first) == 40
    assert write_batch(engine, first[:10]) == 0  # replayed: nothing counted twice
    assert write_batch(engine, _events(30, offset=3)) == 30  # the same keys again: added
    stored = _stored(engine)
    assert stored == _from_raw(engine)
    assert {key[1] for key in stored} == {"primary", "secondary", "default"}
    assert len({key[0] for key in stored}) == 2  # both UTC days
    assert sum(v[0] for v in stored.values()) == 70
