"""The writer's fast paths store exactly what SQLAlchemy would, and every rollup it writes
(hourly, daily, project, tag, error, batch / flex tier) equals the raw rows, through replays
and across days."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Table, select

from collector.db.models import (
    TIER_COUNTERS,
    Request,
    daily_error_rollups,
    daily_project_rollups,
    daily_rollups,
    daily_tag_rollups,
    daily_tier_rollups,
    hourly_error_rollups,
    hourly_project_rollups,
    hourly_rollups,
    hourly_tag_rollups,
    hourly_tier_rollups,
)
from collector.recorder import write_batch
from tests.factories import make_event


def test_values_round_trip_exactly(engine: Engine) -> None:
    plus5 = timezone(timedelta(hours=5, minutes=30))
    odd = [
        make_event(tags={"n": 1}, metadata={"list": [1, 2], "nested": {"a": None}}),
        make_event(tags={"n": True}, metadata={"n": 1.5}),  # hashes like {"n": 1}
        make_event(tags={"n": "1"}, batch=True, service_tier="flex", cache_hit=True),
        make_event(tags={"n": "1"}, stream=True, ttft_ms=1.25),
        make_event(outcome="upstream_error", error_type="server_error", http_status=None,
                   error_message="x" * 1500, started_at=datetime(2026, 11, 1, 0, 10, tzinfo=plus5)),
        make_event(cost_usd=None, cost_source="unpriced", end_user="ü"),
    ]  # fmt: skip
    assert write_batch(engine, odd) == len(odd)
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(Request.__table__))}
    for e in odd:
        row = rows[e.id]
        typed = [(k, type(v), v) for k, v in row.tags.items()]
        assert typed == [(k, type(v), v) for k, v in e.tags.items()]
        assert row.metadata == e.metadata
        assert (row.batch, row.service_tier, row.cache_hit, row.stream) == (
            e.batch, e.service_tier, e.cache_hit, e.stream,
        )  # fmt: skip
        assert row.started_at == e.started_at and row.started_at.tzinfo == UTC
        assert row.cost_usd == e.cost_usd and row.ttft_ms == e.ttft_ms
        assert row.end_user == e.end_user
    assert rows[odd[4].id].error_message == "x" * 1000


def _sums(engine: Engine, table: Table, counters: tuple[str, ...]) -> dict[Any, Any]:
    keys = [c.name for c in table.primary_key.columns]
    with engine.connect() as conn:
        return {
            tuple(r[k] for k in keys): tuple(r[c] for c in counters)
            for r in conn.execute(select(table)).mappings()
            if any(r[c] for c in counters)
        }


def _expected(engine: Engine) -> dict[str, dict[Any, list[Any]]]:
    """Every rollup recomputed from the raw rows, keyed as the tables are."""
    out: dict[str, dict[Any, list[Any]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    with engine.connect() as conn:
        rows = conn.execute(select(Request.__table__)).all()
    key: tuple[Any, ...]  # each table's own primary key
    for r in rows:
        hour = r.started_at.replace(minute=0, second=0, microsecond=0)
        day = hour.replace(hour=0)
        model = r.model_served or r.model_requested or ""
        rest = (r.project_id or 0, r.api_key_id or 0, r.end_user or "", model, r.outcome)
        cost = r.cost_usd or Decimal(0)
        coarse = (r.project_id or 0, model, r.outcome)  # the project rollups' key
        for name, key in (
            ("hourly", (hour, *rest)),
            ("daily", (day, *rest)),
            ("projects", (hour, *coarse)),
            ("daily_projects", (day, *coarse)),
        ):
            out[name][key][0] += 1
            out[name][key][1] += cost
        for tag, value in r.tags.items():
            tag_rest = (f"{tag}={value}", r.project_id or 0, model, r.outcome)
            for name, key in (("tags", (hour, *tag_rest)), ("daily_tags", (day, *tag_rest))):
                out[name][key][0] += 1
                out[name][key][1] += cost
        if r.outcome != "success":
            error = (r.error_type or "", r.http_status or 0)
            out["errors"][(hour, *rest, *error)][0] += 1
            out["daily_errors"][(day, *rest, *error)][0] += 1
        if r.batch or r.service_tier == "flex":
            tier = "batch" if r.batch else "flex"
            for name, key in (("tiers", (hour, *rest, tier)), ("daily_tiers", (day, *rest, tier))):
                _add_tier(out[name], key, r)
    return out


def _add_tier(groups: dict[Any, list[Any]], key: tuple[Any, ...], r: Any) -> None:
    """requests, then the priced rows' count, token sums and cost (the tables' order)."""
    sums = groups.setdefault(key, [0] * (len(TIER_COUNTERS) + 1) + [Decimal(0)])
    sums[0] += 1
    if r.cost_usd is not None:
        sums[1] += 1
        for i, name in enumerate(TIER_COUNTERS[1:], start=2):
            sums[i] += getattr(r, name)
        sums[-1] += r.cost_usd


def _assert_rollups_equal_raw(engine: Engine) -> None:
    expected = _expected(engine)
    money = ("requests", "cost_usd")
    for name, table in (
        ("hourly", hourly_rollups),
        ("daily", daily_rollups),
        ("projects", hourly_project_rollups),
        ("daily_projects", daily_project_rollups),
        ("tags", hourly_tag_rollups),
        ("daily_tags", daily_tag_rollups),
    ):
        want = {k: tuple(v) for k, v in expected[name].items()}
        assert _sums(engine, table, money) == want, name
    for name, table in (("errors", hourly_error_rollups), ("daily_errors", daily_error_rollups)):
        errors = {k: (v[0],) for k, v in expected[name].items()}
        assert _sums(engine, table, ("requests",)) == errors, name
    tier_counters = ("requests", *TIER_COUNTERS, "cost_usd")
    for name, table in (("tiers", hourly_tier_rollups), ("daily_tiers", daily_tier_rollups)):
        want = {k: tuple(v) for k, v in expected[name].items()}
        assert _sums(engine, table, tier_counters) == want, name


def test_every_rollup_equals_the_raw_rows_through_replays(engine: Engine) -> None:
    rng = random.Random(3)
    start = datetime(2026, 11, 1, 22, tzinfo=UTC)  # batches straddle UTC midnights
    failures = (("upstream_error", "server_error", 502), ("timeout", "timeout", None))
    events = []
    error: str | None
    status: int | None
    for _ in range(900):
        outcome, error, status = ("success", None, 200)
        if rng.random() < 0.2:
            outcome, error, status = rng.choice(failures)
        events.append(
            make_event(
                started_at=start + timedelta(seconds=rng.randrange(30 * 3600)),
                outcome=outcome,
                error_type=error,
                http_status=status,
                end_user=rng.choice(("u1", "u2", None)),
                project_id=None,
                model_served=rng.choice(("gpt-4o", None)),
                tags=rng.choice(({}, {"team": "a"}, {"team": "b", "env": "prod"})),
                cost_usd=rng.choice((None, Decimal("0.0000000001"), Decimal("12.3456789012"))),
                batch=rng.random() < 0.2,
                service_tier=rng.choice((None, "default", "flex", "priority")),
                cached_tokens=rng.randrange(50),
                audio_prompt_tokens=rng.choice((0, 0, 7)),
                audio_completion_tokens=rng.choice((0, 3)),
            )
        )
    written = 0
    for size in (1, 7, 100, 500):  # overlapping replays of every size
        for i in range(0, len(events), size * 3):
            written += write_batch(engine, events[i : i + size])
    written += write_batch(engine, events)
    assert written == len(events)
    assert write_batch(engine, events[::-1]) == 0
    _assert_rollups_equal_raw(engine)
