"""cost_breakdown: the parts of a cost always add up exactly to it, discounts included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.pricing import PriceEntry, PriceOverride, cost_breakdown, load_catalog
from collector.usage import Usage

START = datetime(2020, 1, 1, tzinfo=UTC)
DISCOUNTS = (
    PriceOverride(model="*", effective_from=START, discount_pct=Decimal("33.3333")),
    PriceOverride(model="gpt-*", effective_from=START, discount_pct=Decimal("7.77")),
)


@settings(max_examples=300, deadline=None)
@given(
    entry=st.sampled_from(load_catalog().entries),
    prompt=st.integers(0, 10_000_000),
    completion=st.integers(0, 10_000_000),
    searches=st.integers(0, 7),
    discounted=st.booleans(),
)
def test_parts_sum_exactly_to_the_cost(
    entry: PriceEntry, prompt: int, completion: int, searches: int, discounted: bool
) -> None:
    usage = Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=prompt // 3,
        web_search_calls=searches,
        characters=prompt,
        audio_seconds=Decimal(completion) / 1000,
        images=searches,
    )
    at = max(entry.effective_from, datetime(2025, 9, 2, tzinfo=UTC)) + timedelta(hours=1)
    overrides = DISCOUNTS if discounted else ()
    cost, parts = cost_breakdown(usage, entry.model, at, overrides=overrides)
    if cost.cost_usd is None:
        assert parts == ()
        return
    assert sum((p.amount for p in parts), Decimal(0)) == cost.cost_usd
    # the parts are the cost's own: only the final half-even rounding may be left over
    rounding = [p.amount for p in parts if p.name == "rounding"]
    assert all(abs(r) <= Decimal("1e-10") * len(parts) for r in rounding)
    assert all(p.units for p in parts if p.name != "rounding")


def test_discounts_are_negative_parts() -> None:
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=0)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    cost, parts = cost_breakdown(usage, "gpt-4o-mini", at, overrides=DISCOUNTS[:1])
    # $0.15 less 33.3333 % = 0.150000 × 0.666667 = 0.10000005
    assert cost.cost_usd == Decimal("0.1000000500")
    assert [(p.name, p.amount) for p in parts] == [
        ("input_tokens", Decimal("0.1500000000")),
        ("discount *@2020-01-01", Decimal("-0.0499999500")),
    ]
