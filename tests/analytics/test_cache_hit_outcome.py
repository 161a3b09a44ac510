"""A response cache hit is an answered request: never an error in the overview, the request
log, the error rollups or the error budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, select

from collector.analytics import Filters, overview, slo
from collector.db.rollups import hourly_error_rollups
from collector.recorder import write_batch
from collector.requestlog import recent_requests
from tests.factories import make_event

AT = datetime(2026, 11, 3, 10, tzinfo=UTC)


def test_cache_hits_are_answered_requests(engine: Engine) -> None:
    events = [
        make_event(started_at=AT),
        make_event(
            started_at=AT,
            outcome="cache_hit",
            cache_hit=True,
            cost_usd=Decimal(0),
            saved_usd=Decimal("0.00002"),
        ),
        make_event(started_at=AT, outcome="upstream_error", http_status=502, error_type="x"),
    ]
    assert write_batch(engine, events) == 3
    stats = overview(engine, Filters(AT, AT + timedelta(hours=1)), AT + timedelta(hours=2))
    assert stats.error_rate is not None and abs(stats.error_rate - 1 / 3) < 1e-12
    assert [r.outcome for r in recent_requests(engine, errors_only=True)] == ["upstream_error"]
    with engine.connect() as conn:
        assert conn.scalar(select(func.sum(hourly_error_rollups.c.requests))) == 1
    counts = slo.slo_counts({"success": 1, "cache_hit": 1, "upstream_error": 1})
    assert (counts.eligible, counts.bad) == (3, 1)
