"""The daily rollups equal the hourly rollups summed per UTC day, and the project rollups the
request rollups summed over keys and users (every counter), whatever the writes."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Table, func, select

from collector.db.models import (
    daily_project_rollups,
    daily_rollups,
    daily_tag_rollups,
    hourly_project_rollups,
    hourly_rollups,
    hourly_tag_rollups,
)
from collector.recorder import write_batch
from tests.analytics.conftest import NOV1_13, Seeded
from tests.factories import make_event


def _by_day(engine: Engine, hourly: Table) -> dict[tuple[Any, ...], dict[str, Any]]:
    keys = [c.name for c in hourly.primary_key.columns if c.name != "hour"]
    counters = [c.name for c in hourly.columns if c.name not in keys and c.name != "hour"]
    out: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    with engine.connect() as conn:
        for row in conn.execute(select(hourly)).mappings():
            hour: datetime = row["hour"]
            key = (hour.replace(hour=0), *(row[k] for k in keys))
            for c in counters:
                out[key][c] += row[c]
    return {k: dict(v) for k, v in out.items()}


def _over_keys_and_users(engine: Engine, fine: Table) -> dict[tuple[Any, ...], dict[str, Any]]:
    """``fine`` (hourly or daily request rollups) summed per (period, project, model, outcome)."""
    period = "hour" if "hour" in fine.c else "day"
    keys = (period, "project_id", "model", "outcome")
    dropped = {*keys, "api_key_id", "end_user"}
    out: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    with engine.connect() as conn:
        for row in conn.execute(select(fine)).mappings():
            sums = out[tuple(row[k] for k in keys)]
            for name in (c.name for c in fine.columns if c.name not in dropped):
                sums[name] += row[name]
    return {k: dict(v) for k, v in out.items()}


def _daily(engine: Engine, daily: Table) -> dict[tuple[Any, ...], dict[str, Any]]:
    keys = [c.name for c in daily.primary_key.columns]
    with engine.connect() as conn:
        return {
            tuple(row[k] for k in keys): {c: v for c, v in row.items() if c not in keys}
            for row in conn.execute(select(daily)).mappings()
        }


def _assert_equal(engine: Engine) -> None:
    pairs: list[tuple[dict[tuple[Any, ...], dict[str, Any]], Table]] = [
        (_by_day(engine, hourly_rollups), daily_rollups),
        (_by_day(engine, hourly_tag_rollups), daily_tag_rollups),
        (_by_day(engine, hourly_project_rollups), daily_project_rollups),
        (_over_keys_and_users(engine, hourly_rollups), hourly_project_rollups),
        (_over_keys_and_users(engine, daily_rollups), daily_project_rollups),
    ]
    for expected, table in pairs:
        got = _daily(engine, table)
        emptied = {k for k in got.keys() - expected.keys() if not any(got[k].values())}
        assert got.keys() - emptied == expected.keys()
        for key, sums in expected.items():
            for column, value in sums.items():
                if isinstance(value, float):
                    assert abs(got[key][column] - value) < 1e-6, (key, column)
                else:
                    assert got[key][column] == value, (key, column)


def test_daily_rollups_follow_inserts_and_upserts(engine: Engine, seeded: Seeded) -> None:
    _assert_equal(engine)
    # more events into an hour that already has rows: the recorder's upsert (UPDATE) path
    more = [
        make_event(project_id=seeded.beta, api_key_id=seeded.key_b, end_user="u2",
                   started_at=NOV1_13, model_served="gpt-4o", tags={"team": "ml"},
                   cost_usd=Decimal("0.0000000001"), ttft_ms=12.5, stream=True)
        for _ in range(3)
    ]  # fmt: skip
    write_batch(engine, more)
    _assert_equal(engine)
    with engine.connect() as conn:
        cost = conn.scalar(
            select(func.sum(daily_tag_rollups.c.cost_usd)).where(
                daily_tag_rollups.c.tag == "team=ml"
            )
        )
    assert cost == Decimal("0.2444444247")


def test_daily_rollups_split_a_batch_by_utc_day_and_ignore_replays(
    engine: Engine, seeded: Seeded
) -> None:
    # one batch over a UTC midnight; one event stamped in +02:00, on 4 Nov locally but 3 Nov
    # in UTC (its day and hour are UTC ones)
    plus2 = timezone(timedelta(hours=2))
    times = [
        datetime(2026, 11, 3, 23, 59, tzinfo=UTC),
        datetime(2026, 11, 4, 0, 1, tzinfo=UTC),
        datetime(2026, 11, 4, 1, 30, tzinfo=plus2),  # 3 Nov 23:30 UTC
    ]
    batch = [
        make_event(project_id=seeded.alpha, api_key_id=seeded.key_a, end_user="u9",
                   started_at=t, tags={"team": "night"}, cost_usd=Decimal("0.0000000003"))
        for t in times
    ]  # fmt: skip
    write_batch(engine, batch)
    _assert_equal(engine)
    assert write_batch(engine, batch) == 0  # a replay adds nothing anywhere
    _assert_equal(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            select(daily_tag_rollups.c.day, daily_tag_rollups.c.requests)
            .where(daily_tag_rollups.c.tag == "team=night")
            .order_by(daily_tag_rollups.c.day)
        ).all()
    assert [(r.day.day, r.requests) for r in rows] == [(3, 2), (4, 1)]
