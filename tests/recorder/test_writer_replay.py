"""A replay of a partly written batch counts every request once, and rollup
counters that one batch leaves at zero (sent sparse to PostgreSQL) add up exactly later."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, select

from collector.db.models import Attempt, Request, hourly_rollups, hourly_tag_rollups
from collector.recorder import AttemptEvent, write_batch
from collector.recorder.rollup import aggregate
from tests.factories import T0, make_event


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_a_partly_written_batch_replayed_adds_only_the_new_rows(engine: Engine) -> None:
    events = [make_event(tags={"team": "a"}) for _ in range(40)]
    assert write_batch(engine, events[:15]) == 15
    # the whole batch again, with an id repeated inside it carrying other data
    twin = replace(events[20], prompt_tokens=999_999, cost_usd=Decimal(5))
    assert write_batch(engine, [*events, twin]) == 25
    assert _count(engine, Request.__table__) == 40
    assert _count(engine, Attempt.__table__) == 40
    with engine.connect() as conn:
        stored = conn.execute(
            select(Request.__table__.c.prompt_tokens).where(Request.__table__.c.id == twin.id)
        ).scalar_one()
        hourly = conn.execute(
            select(func.sum(hourly_rollups.c.requests), func.sum(hourly_rollups.c.prompt_tokens))
        ).one()
        tags = conn.execute(select(func.sum(hourly_tag_rollups.c.requests))).scalar_one()
    assert stored == events[20].prompt_tokens  # the first event of an id is the one written
    assert tuple(hourly) == (40, sum(e.prompt_tokens for e in events))
    assert tags == 40
    assert write_batch(engine, events[::-1]) == 0


def test_counters_left_at_zero_by_one_batch_add_up_in_the_next(engine: Engine) -> None:
    # batch 1: no TTFT, no cost, no failed attempt; batch 2 fills them in, on the same row
    # (one hour, pinned: the factories' default times move on with every event made before)
    at = T0 + timedelta(minutes=5)
    plain = [
        make_event(started_at=at, cost_usd=None, cost_source="unpriced", duration_ms=3.0)
        for _ in range(3)
    ]
    richer = [
        make_event(
            started_at=at,
            stream=True,
            ttft_ms=40.0,
            duration_ms=900.0,
            cost_usd=Decimal("0.0000000001"),
            attempts=[
                AttemptEvent(1, T0, 10.0, http_status=500, cost_usd=Decimal("0.25")),
                AttemptEvent(2, T0 + timedelta(seconds=1), 890.0, http_status=200),
            ],
        )
        for _ in range(2)
    ]
    assert write_batch(engine, plain) == 3
    assert write_batch(engine, richer) == 2
    want = aggregate([*plain, *richer])
    assert len(want) == 1
    ((key, counters),) = want.items()
    with engine.connect() as conn:
        row = conn.execute(select(hourly_rollups)).mappings().one()
    assert (row["hour"], row["model"], row["outcome"]) == (key[0], key[4], key[5])
    for name, value in counters.items():
        assert row[name] == value, name
    assert row["failed_attempt_cost_usd"] == Decimal("0.5")
    assert row["ttft_count"] == 2 and row["unpriced_requests"] == 3
