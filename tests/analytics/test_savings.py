"""Savings from cached tokens (rollups) and from batch / flex rows (tier rollups), exactly.

Catalog prices used (USD per 1M tokens): gpt-4o-mini-2024-07-18 input 0.15, cached 0.075,
output 0.60, batch input 0.075 (cached too), output 0.30; o4-mini-2025-04-16 input 1.10,
output 4.40, flex input 0.55, output 2.20.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, event

from collector.analytics import Filters, UnsupportedFilterError, savings
from collector.pricing import PriceOverride
from collector.recorder import write_batch
from tests.factories import make_event

MINI = "gpt-4o-mini-2024-07-18"
O4 = "o4-mini-2025-04-16"
NOV1 = datetime(2026, 11, 1, tzinfo=UTC)
NOV2 = NOV1 + timedelta(days=1)
WHOLE = Filters(NOV1, NOV1 + timedelta(days=3))


def _event(at: datetime, model: str = MINI, **kw: Any) -> Any:
    return make_event(started_at=at, model_served=model, model_requested=model, **kw)


@pytest.fixture
def traffic(engine: Engine) -> None:
    h = NOV1 + timedelta(hours=12)
    events = [
        # standard requests with cached prompt tokens: only a cache saving
        _event(h, prompt_tokens=1000, cached_tokens=800, completion_tokens=100),
        _event(NOV2 + timedelta(hours=10), prompt_tokens=500, cached_tokens=400),
        # batch: $0.0003 paid, $0.0006 at standard prices (2000 in, 500 out) — twice
        *(
            _event(
                h + timedelta(hours=1, minutes=i),
                batch=True,
                prompt_tokens=2000,
                completion_tokens=500,
                cost_usd=Decimal("0.0003"),
            )
            for i in range(2)
        ),
        # batch with a fully cached prompt: batch bills cached at its input rate
        _event(
            h + timedelta(hours=1),
            batch=True,
            prompt_tokens=1000,
            cached_tokens=1000,
            completion_tokens=100,
            cost_usd=Decimal("0.000105"),
        ),
        # flex: 1000 in / 1000 out (500 reasoning) at half price
        _event(
            h + timedelta(hours=2),
            O4,
            service_tier="flex",
            prompt_tokens=1000,
            completion_tokens=1000,
            reasoning_tokens=500,
            cost_usd=Decimal("0.00275"),
        ),
        # unpriced: cached tokens of an unknown model; a batch row without a cost
        _event(
            h,
            "mystery-model",
            prompt_tokens=600,
            cached_tokens=500,
            cost_usd=None,
            cost_source="unpriced",
        ),
        _event(h, "mystery-model", batch=True, cost_usd=None, cost_source="unpriced"),
        # a priority-tier request is neither batch nor flex
        _event(h, service_tier="priority", cost_usd=Decimal("0.00005")),
    ]
    assert write_batch(engine, events) == len(events)


def _rows(df: Any) -> list[tuple[Any, ...]]:
    return [
        (r["ts"].to_pydatetime(), r["kind"], r["model"], r["tokens"], r["paid_usd"], r["saved_usd"])
        for r in df.to_dict("records")
    ]


def test_savings_per_day_kind_and_model_are_exact(engine: Engine, traffic: None) -> None:
    df = savings(engine, WHOLE, "day", overrides=())
    assert _rows(df) == [
        # cache: (800 + 1000 batch-cached) × (0.15 − 0.075) / 1M; 500 tokens of an unpriced model
        (NOV1, "cache", MINI, 1800, Decimal("0.000135"), Decimal("0.000135")),
        (NOV1, "cache", "mystery-model", 500, None, None),
        # batch: standard (2×600 + 135) − paid (2×300 + 105) per 1M
        (NOV1, "batch", MINI, 6100, Decimal("0.000705"), Decimal("0.00063")),
        (NOV1, "flex", O4, 2000, Decimal("0.00275"), Decimal("0.00275")),
        (NOV2, "cache", MINI, 400, Decimal("0.00003"), Decimal("0.00003")),
    ]
    batch = df[df["kind"] == "batch"].iloc[0]
    assert batch["requests"] == 3 and batch["list_usd"] == Decimal("0.001335")
    assert all(isinstance(v, Decimal) for v in df["saved_usd"].dropna())


def test_filters_restrict_savings(engine: Engine, traffic: None) -> None:
    only_o4 = Filters(WHOLE.start, WHOLE.end, models=(O4,))
    assert _rows(savings(engine, only_o4, overrides=())) == [
        (NOV1, "flex", O4, 2000, Decimal("0.00275"), Decimal("0.00275"))
    ]
    nov2 = Filters(NOV2, WHOLE.end)
    assert [r[1] for r in _rows(savings(engine, nov2, overrides=()))] == ["cache"]


def test_overrides_price_the_standard_side(engine: Engine, traffic: None) -> None:
    """A negotiated cached rate from Nov 2 shrinks that day's cache saving only."""
    cheaper = PriceOverride(model=MINI, effective_from=NOV2, cached_input_per_1m=Decimal("0.05"))
    df = savings(engine, WHOLE, overrides=(cheaper,))
    cache = {r[0]: r[5] for r in _rows(df) if r[1] == "cache" and r[2] == MINI}
    assert cache == {NOV1: Decimal("0.000135"), NOV2: Decimal("0.00004")}


@pytest.mark.parametrize(
    ("starts", "saved"),
    [
        # 12:00 hour (800 cached) and 13:00 hour (1000 batch-cached) both at 0.15 per 1M
        (NOV1 + timedelta(hours=11), Decimal("0.00027")),
        # the 12:00 hour keeps the catalog's 0.075 saving: 0.00006 + 0.00015
        (NOV1 + timedelta(hours=13), Decimal("0.00021")),
    ],
)
def test_an_override_starting_mid_day_prices_each_hour(
    engine: Engine, traffic: None, starts: datetime, saved: Decimal
) -> None:
    """From ``starts`` cached input costs $0, so a cached token saves the whole input price."""
    free = PriceOverride(model=MINI, effective_from=starts, cached_input_per_1m=Decimal("0"))
    df = savings(engine, Filters(NOV1, NOV2), "day", overrides=(free,))
    rows = [r for r in _rows(df) if r[1] == "cache" and r[2] == MINI]
    assert [(r[0], r[3], r[5]) for r in rows] == [(NOV1, 1800, saved)]


def test_a_tag_filter_is_refused_with_a_reason(engine: Engine, traffic: None) -> None:
    with pytest.raises(UnsupportedFilterError, match="tag"):
        savings(engine, Filters(WHOLE.start, WHOLE.end, tags=("team=ml",)), overrides=())


def test_no_traffic_gives_an_empty_frame(engine: Engine) -> None:
    df = savings(engine, WHOLE, overrides=())
    assert df.empty and list(df.columns)[:3] == ["ts", "kind", "model"]


def test_batch_flex_savings_read_the_tier_rollups_not_requests(
    engine: Engine, traffic: None
) -> None:
    """Whole days come from daily_tier_rollups; requests only for partial hours at the edges."""
    seen: list[str] = []

    def _log(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", _log)
    try:
        savings(engine, WHOLE, "day", overrides=())
        whole_days = list(seen)
        seen.clear()
        savings(engine, Filters(NOV1 + timedelta(minutes=30), NOV2), "day", overrides=())
    finally:
        event.remove(engine, "before_cursor_execute", _log)
    assert any("FROM daily_tier_rollups" in s for s in whole_days)
    assert not any("FROM requests" in s for s in whole_days)
    assert sum("FROM requests" in s for s in seen) == 1  # the 00:30-01:00 edge only
    assert any("FROM hourly_tier_rollups" in s for s in seen)


def test_response_cache_hits_save_the_cost_of_what_they_replayed(engine: Engine) -> None:
    h = NOV1 + timedelta(hours=9)
    hit: dict[str, Any] = {"outcome": "cache_hit", "cache_hit": True, "cost_usd": Decimal(0)}
    events = [
        _event(h, prompt_tokens=100, completion_tokens=10, cost_usd=Decimal("0.000021")),
        _event(h + timedelta(minutes=1), saved_usd=Decimal("0.000021"), **hit),
        _event(h + timedelta(minutes=2), saved_usd=Decimal("0.000021"), **hit),
        _event(NOV2 + timedelta(hours=1), O4, saved_usd=Decimal("0.0011"), **hit),
    ]
    assert write_batch(engine, events) == len(events)
    df = savings(engine, WHOLE, "day", overrides=())
    rows = df[df["kind"] == "response_cache"]
    assert _rows(rows) == [
        (NOV1, "response_cache", MINI, 0, Decimal(0), Decimal("0.000042")),
        (NOV2, "response_cache", O4, 0, Decimal(0), Decimal("0.0011")),
    ]
    assert list(rows["requests"]) == [2, 1]
    assert list(rows["list_usd"]) == [Decimal("0.000042"), Decimal("0.0011")]
    hourly = savings(engine, Filters(h, h + timedelta(hours=1)), "hour", overrides=())
    assert list(hourly.loc[hourly["kind"] == "response_cache", "saved_usd"]) == [
        Decimal("0.000042")
    ]
