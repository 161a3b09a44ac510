"""The error breakdown and the batch / flex savings sums, read from daily and hourly rollups
plus raw edges, equal the same figures computed from the raw rows, on ranges with partial
hours and days at either end."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from collector.analytics import Filters, errors_breakdown, overview
from collector.analytics._savings import tier_sums
from collector.analytics._sql import ceil_hour, floor_hour
from collector.db.models import TIER_COUNTERS, Project, Request
from collector.histogram import BUCKET_COUNT, bucket_index, percentile
from collector.recorder import write_batch
from tests.factories import make_event, make_key, make_project

START = datetime(2026, 10, 31, 21, tzinfo=UTC)  # traffic over ~3 days, across 3 midnights
MODELS = ("gpt-4o-mini-2024-07-18", "o4-mini-2025-04-16", None)
FAILURES = (
    ("upstream_error", "server_error", 502),
    ("timeout", "timeout", None),
    ("client_error", "invalid_request_error", 400),
    ("blocked", "budget_exceeded", 429),
)
RANGES = [
    (START, START + timedelta(days=4)),  # everything
    # partial hours at both ends around whole hours and two whole days
    (datetime(2026, 10, 31, 22, 17, tzinfo=UTC), datetime(2026, 11, 2, 23, 41, 5, tzinfo=UTC)),
    # whole days only
    (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)),
    # inside one hour; across one hour boundary; whole hours inside one day
    (datetime(2026, 11, 1, 5, 10, tzinfo=UTC), datetime(2026, 11, 1, 5, 50, tzinfo=UTC)),
    (datetime(2026, 11, 1, 5, 10, tzinfo=UTC), datetime(2026, 11, 1, 6, 50, tzinfo=UTC)),
    (datetime(2026, 11, 1, 3, tzinfo=UTC), datetime(2026, 11, 1, 19, tzinfo=UTC)),
    # a partial day then whole day, ending exactly on an hour
    (datetime(2026, 11, 1, 13, 0, 0, 1, tzinfo=UTC), datetime(2026, 11, 3, 2, tzinfo=UTC)),
]


@pytest.fixture
def traffic(engine: Engine) -> None:
    rng = random.Random(11)
    p1, p2 = make_project(engine, "p1"), make_project(engine, "p2")
    key = make_key(engine, p2)
    events = []
    error: str | None
    status: int | None
    for _ in range(1500):
        outcome, error, status = "success", None, 200
        if rng.random() < 0.3:
            outcome, error, status = rng.choice(FAILURES)
        model = rng.choice(MODELS)
        events.append(
            make_event(
                started_at=START + timedelta(seconds=rng.randrange(3 * 86400)),
                outcome=outcome,
                error_type=error,
                http_status=status,
                project_id=rng.choice((None, p1, p2)),
                api_key_id=rng.choice((None, key)),
                end_user=rng.choice(("u1", "u2", None)),
                model_served=model,
                model_requested=model,
                batch=rng.random() < 0.3,
                service_tier=rng.choice((None, "flex", "default")),
                prompt_tokens=rng.randrange(2000),
                cached_tokens=rng.randrange(100),
                completion_tokens=rng.randrange(500),
                audio_prompt_tokens=rng.choice((0, 0, 5)),
                cost_usd=rng.choice((None, Decimal("0.0000000007"), Decimal("1.2345678901"))),
                duration_ms=rng.uniform(1, 5000),
            )
        )
    for i in range(0, len(events), 200):
        write_batch(engine, events[i : i + 200])


def _raw_rows(engine: Engine, f: Filters) -> list[Any]:
    with engine.connect() as conn:
        rows = conn.execute(select(Request.__table__)).all()
    return [
        r
        for r in rows
        if f.start <= r.started_at < f.end
        and (not f.project_ids or r.project_id in f.project_ids)
        and (not f.models or (r.model_served or r.model_requested) in f.models)
    ]


def _filters(engine: Engine, start: datetime, end: datetime, which: str) -> Filters:
    if which == "project":
        with engine.connect() as conn:
            p2 = conn.scalar(select(Project.id).where(Project.name == "p2"))
        return Filters(start, end, project_ids=(int(p2 or 0),))
    if which == "model":
        return Filters(start, end, models=(MODELS[1],))
    return Filters(start, end)


@pytest.mark.parametrize("which", ["all", "project", "model"])
def test_error_breakdown_equals_raw_rows(engine: Engine, traffic: None, which: str) -> None:
    for start, end in RANGES:
        f = _filters(engine, start, end, which)
        want: dict[tuple[Any, ...], int] = defaultdict(int)
        for r in _raw_rows(engine, f):
            if r.outcome != "success":
                model = r.model_served or r.model_requested or "(none)"
                want[(r.outcome, r.error_type, r.http_status, model)] += 1
        df = errors_breakdown(engine, f)
        got = {
            (r["outcome"], r["error_type"], None if pd_na(r["http_status"]) else r["http_status"],
             r["model"]): r["requests"]
            for r in df.to_dict("records")
        }  # fmt: skip
        assert got == dict(want), (start, end, which)


def pd_na(value: Any) -> bool:
    return value is None or str(value) == "<NA>"


@pytest.mark.parametrize("step", ["day", "hour"])
@pytest.mark.parametrize("which", ["all", "project", "model"])
def test_tier_sums_equal_raw_rows(engine: Engine, traffic: None, step: str, which: str) -> None:
    for start, end in RANGES:
        f = _filters(engine, start, end, which)
        want: dict[tuple[Any, ...], list[Any]] = {}
        for r in _raw_rows(engine, f):
            if not (r.batch or r.service_tier == "flex") or r.cost_usd is None:
                continue
            ts = r.started_at.replace(minute=0, second=0, microsecond=0)
            ts = ts.replace(hour=0) if step == "day" else ts
            key = (ts, r.model_served or r.model_requested or "", "batch" if r.batch else "flex")
            sums = want.setdefault(key, [0] * len(TIER_COUNTERS) + [Decimal(0)])
            sums[0] += 1
            for i, name in enumerate(TIER_COUNTERS[1:], start=1):
                sums[i] += getattr(r, name)
            sums[-1] += r.cost_usd
        with engine.connect() as conn:
            got = tier_sums(conn, f, step)  # type: ignore[arg-type]
        got = {k: [int(x) for x in v[:-1]] + [v[-1]] for k, v in got.items() if v[0]}
        assert got == want, (start, end, which, step)


@pytest.mark.parametrize("which", ["all", "project", "model"])
def test_overview_equals_raw_rows_over_whole_hours(
    engine: Engine, traffic: None, which: str
) -> None:
    """Counts, spend, unpriced and p95 (histogram apart from the grouped sums) = raw rows."""
    for start, end in RANGES:
        f = _filters(engine, start, end, which)
        hours = _filters(engine, floor_hour(start), ceil_hour(end), which)  # aggregates widen
        rows = _raw_rows(engine, hours)
        latency = [0] * BUCKET_COUNT
        for r in rows:
            latency[bucket_index(r.duration_ms)] += 1
        stats = overview(engine, f, now=end)
        assert stats.requests == len(rows), (start, end, which)
        assert stats.spend_in_range_usd == sum((r.cost_usd or 0 for r in rows), Decimal(0))
        assert stats.unpriced_requests == sum(r.cost_source == "unpriced" for r in rows)
        assert stats.p95_latency_ms == percentile(latency, 0.95), (start, end, which)
