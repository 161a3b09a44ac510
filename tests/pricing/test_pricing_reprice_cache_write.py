"""Repricing reads a row's cache writes: a row booked at the input rate gets the write rate."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine, select

from collector.db import Request
from collector.pricing.reprice import RepriceWindow, reprice
from collector.recorder import write_batch
from tests.factories import T0, make_event

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
DAY = RepriceWindow(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))


def test_a_row_with_cache_writes_is_repriced_at_the_write_rate(engine: Engine) -> None:
    """gpt-6-sol: 2,000 × 2 + 2,000 × 0.20 + 6,000 × 2.50 + 1,000 × 10 = 29,400 per 1M;
    recorded with every write at the input rate: 26,400 per 1M."""
    event = make_event(
        started_at=T0, model_served="gpt-6-sol", model_requested="gpt-6-sol",
        prompt_tokens=10_000, cached_tokens=2_000, cache_write_tokens=6_000,
        completion_tokens=1_000, cost_usd=Decimal("0.0264"), price_id="gpt-6-sol@2026-09-22",
    )  # fmt: skip
    write_batch(engine, [event])
    reprice(engine, DAY, now=NOW)
    with engine.connect() as conn:
        row = conn.execute(select(Request).where(Request.id == event.id)).one()
    assert (row.cost_usd, row.previous_cost_usd) == (Decimal("0.0294"), Decimal("0.0264"))
    assert row.cost_source == "computed"
