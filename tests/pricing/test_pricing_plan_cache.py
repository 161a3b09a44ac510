"""compute_cost remembers which rates apply per price window: it must never answer stale.

Each test prices the same request at instants around a boundary (a catalog price change, an
override starting or ending) and after the inputs change (an override added in place, replaced,
a different catalog), in an order that would expose a remembered plan, and checks the exact
amount — or compares with a resolution that cannot use the cache (a fresh catalog object).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from collector.pricing import Catalog, PriceOverride, compute_cost, load_catalog
from collector.usage import Cost, CostSource, Usage

USAGE = Usage(prompt_tokens=1000, completion_tokens=500)
TICK = timedelta(microseconds=1)
SWITCH = datetime(2024, 10, 2, tzinfo=UTC)  # gpt-4o: $5/$15 until then, $2.50/$10 from then


def _cost(at: datetime, overrides: list[PriceOverride] | tuple[PriceOverride, ...] = ()) -> Cost:
    return compute_cost(USAGE, "gpt-4o", at, overrides=overrides)


def test_a_catalog_price_change_is_seen_at_its_exact_instant_after_caching() -> None:
    early, before, after, late = SWITCH - timedelta(days=30), SWITCH - TICK, SWITCH, SWITCH + TICK
    for at, usd, price_id in [
        (early, "0.0125", "gpt-4o@2024-05-13"),  # 1000 × 5 + 500 × 15 = 12,500 → $0.0125
        (before, "0.0125", "gpt-4o@2024-05-13"),
        (after, "0.0075", "gpt-4o@2024-10-02"),  # 1000 × 2.5 + 500 × 10 = 7,500 → $0.0075
        (before, "0.0125", "gpt-4o@2024-05-13"),  # back again: the window moved, not a flag
        (late, "0.0075", "gpt-4o@2024-10-02"),
    ]:
        assert _cost(at) == Cost(Decimal(usd), CostSource.COMPUTED, price_id)


def test_an_override_window_is_seen_at_both_ends_after_caching() -> None:
    start, end = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)
    deal = PriceOverride(
        "gpt-4o", start, end, input_per_1m=Decimal(1), output_per_1m=Decimal(2), id="deal"
    )
    overrides = (deal,)
    catalog = (Decimal("0.0075"), "gpt-4o@2024-10-02")
    # 1000 × 1 + 500 × 2 = 2,000 → $0.002
    override = (Decimal("0.002"), "gpt-4o@2024-10-02+override:deal")
    for at, want in [
        (start - TICK, catalog),
        (start, override),
        (end - TICK, override),
        (end, catalog),
        (start + timedelta(days=3), override),
        (start - timedelta(days=3), catalog),
    ]:
        got = _cost(at, overrides)
        assert (got.cost_usd, got.price_id) == want, at


def test_overrides_changed_in_place_or_replaced_are_seen_at_once() -> None:
    at = datetime(2025, 9, 1, tzinfo=UTC)
    since = datetime(2025, 1, 1, tzinfo=UTC)
    overrides: list[PriceOverride] = []
    assert _cost(at, overrides).cost_usd == Decimal("0.0075")
    overrides.append(PriceOverride("*", since, discount_pct=Decimal(10), id="org"))
    # the same list object, one discount more: 0.0075 × 0.9 = 0.00675
    got = _cost(at, overrides)
    assert (got.cost_usd, got.price_id) == (
        Decimal("0.00675"),
        "gpt-4o@2024-10-02+discount:org",
    )
    overrides[0] = PriceOverride("*", since, discount_pct=Decimal(20), id="org")
    assert _cost(at, overrides).cost_usd == Decimal("0.0060")  # same ref, new percentage
    assert _cost(at, tuple(overrides)).cost_usd == Decimal("0.0060")
    assert _cost(at, ()).cost_usd == Decimal("0.0075")


def test_another_catalog_object_is_never_answered_from_the_shipped_ones_plans() -> None:
    at = datetime(2025, 9, 1, tzinfo=UTC)
    shipped = load_catalog()
    assert _cost(at).cost_usd == Decimal("0.0075")
    cheaper = [e for e in shipped.entries if e.id != "gpt-4o@2024-10-02"]
    got = compute_cost(USAGE, "gpt-4o", at, catalog=Catalog(cheaper))
    assert got.price_id == "gpt-4o@2024-05-13"  # the earlier price is the latest one left
    assert got.cost_usd == Decimal("0.0125")
    assert _cost(at).cost_usd == Decimal("0.0075")


def test_cached_answers_equal_fresh_resolutions_at_random_instants() -> None:
    rng = random.Random(4)
    shipped = load_catalog()
    base = datetime(2023, 1, 1, tzinfo=UTC)
    overrides = (
        PriceOverride("gpt-4o*", base + timedelta(days=500), base + timedelta(days=800),
                      input_per_1m=Decimal("1.1"), output_per_1m=Decimal("4.4")),
        PriceOverride("gpt-4.1", base + timedelta(days=700), discount_pct=Decimal("12.5")),
        PriceOverride("*", base + timedelta(days=650), base + timedelta(days=900),
                      discount_pct=Decimal(3)),
    )  # fmt: skip
    models = ["gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-mini", "gpt-4.1", "gpt-5", "o3", "nope"]
    tiers = [None, "default", "flex", "priority"]
    usage = Usage(prompt_tokens=12_345, cached_tokens=2_345, completion_tokens=678)
    questions = []
    for _ in range(3000):
        at = base + timedelta(seconds=rng.randrange(0, 1200 * 86400))
        model, tier, batch = rng.choice(models), rng.choice(tiers), rng.random() < 0.2
        questions.append((model, at, None if batch else tier, batch))
    cached = [
        compute_cost(usage, m, at, service_tier=t, batch=b, overrides=overrides)
        for m, at, t, b in questions
    ]  # one catalog, one overrides tuple throughout: answered from remembered plans
    fresh = [
        compute_cost(
            usage, m, at, service_tier=t, batch=b, overrides=overrides,
            catalog=Catalog(shipped.entries),  # a new object each time: nothing remembered
        )
        for m, at, t, b in questions
    ]  # fmt: skip
    assert cached == fresh
