"""Price overrides: precedence over the catalog, time windows, discounts, and the DB round trip."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from collector.db import make_engine, session_scope
from collector.errors import PricingError
from collector.pricing import PriceOverride, add_override, compute_cost, load_overrides
from collector.usage import Cost, CostSource, Usage

AT = datetime(2025, 9, 1, tzinfo=UTC)
START = datetime(2025, 1, 1, tzinfo=UTC)
USAGE = Usage(prompt_tokens=1000, completion_tokens=1000)


def test_model_override_replaces_catalog_rates() -> None:
    # 1000 × 2.00 + 1000 × 8.00 = 10,000 → $0.01 (catalog would be $0.0125)
    deal = PriceOverride("gpt-4o", START, input_per_1m=Decimal(2), output_per_1m=Decimal(8), id="7")
    cost = compute_cost(USAGE, "gpt-4o", AT, overrides=[deal])
    assert cost == Cost(Decimal("0.01"), CostSource.COMPUTED, "gpt-4o@2024-10-02+override:7")


def test_fields_left_out_keep_the_catalog_rate() -> None:
    # glob override sets output only: 500 × 0.30 + 500 × 0.15 (catalog) + 1000 × 1.00 = 1,225
    deal = PriceOverride("ft:gpt-4o-mini-*", START, output_per_1m=Decimal("1.00"))
    usage = Usage(prompt_tokens=1000, cached_tokens=500, completion_tokens=1000)
    cost = compute_cost(usage, "ft:gpt-4o-mini-2024-07-18:acme::x1", AT, overrides=[deal])
    assert cost.cost_usd == Decimal("0.001225")


def test_override_window_is_from_inclusive_to_exclusive() -> None:
    end = datetime(2025, 6, 1, tzinfo=UTC)
    deal = PriceOverride(
        "gpt-4o-mini", START, end, input_per_1m=Decimal(1), output_per_1m=Decimal(1)
    )
    costs = [
        compute_cost(USAGE, "gpt-4o-mini", at, overrides=[deal]).cost_usd
        for at in (START - timedelta(microseconds=1), START, end - timedelta(microseconds=1), end)
    ]
    # catalog 1000 × 0.15 + 1000 × 0.60 = $0.00075; override 1000 × 1 + 1000 × 1 = $0.002
    assert costs == [Decimal("0.00075"), Decimal("0.002"), Decimal("0.002"), Decimal("0.00075")]


def test_exact_name_beats_glob_and_later_beats_earlier() -> None:
    glob = PriceOverride("gpt-4o*", START, input_per_1m=Decimal(9), output_per_1m=Decimal(9))
    old = PriceOverride("gpt-4o", START, input_per_1m=Decimal(3), output_per_1m=Decimal(3))
    new = PriceOverride(
        "gpt-4o", START + timedelta(days=1), input_per_1m=Decimal(1), output_per_1m=Decimal(1)
    )
    cost = compute_cost(USAGE, "gpt-4o", AT, overrides=[glob, new, old])
    assert cost.cost_usd == Decimal("0.002")  # 1000 × 1 + 1000 × 1


def test_overrides_price_models_the_catalog_does_not_know() -> None:
    model = f"my-hosted-{uuid.uuid4().hex[:6]}"
    deal = PriceOverride(model, START, input_per_1m=Decimal("0.5"), output_per_1m=Decimal("1.5"))
    cost = compute_cost(USAGE, model, AT, overrides=[deal])
    assert cost == Cost(Decimal("0.002"), CostSource.COMPUTED, f"override:{model}@2025-01-01")
    partial = PriceOverride(model, START, input_per_1m=Decimal("0.5"))
    assert compute_cost(USAGE, model, AT, overrides=[partial]).cost_usd is None


def test_batch_requests_keep_catalog_batch_rates() -> None:
    # batch gpt-4o: 1000 × 1.25 + 1000 × 5 = 6,250 → $0.00625, whatever the list-price override
    deal = PriceOverride("gpt-4o", START, input_per_1m=Decimal(2), output_per_1m=Decimal(8))
    cost = compute_cost(USAGE, "gpt-4o", AT, batch=True, overrides=[deal])
    assert (cost.cost_usd, cost.price_id) == (Decimal("0.00625"), "gpt-4o@2024-10-02")


def test_org_wide_discount_applies_to_the_final_cost() -> None:
    org = PriceOverride("*", START, discount_pct=Decimal(10), id="org")
    # gpt-4o $0.0125 × 0.9 = $0.01125
    cost = compute_cost(USAGE, "gpt-4o", AT, overrides=[org])
    assert cost == Cost(Decimal("0.01125"), CostSource.COMPUTED, "gpt-4o@2024-10-02+discount:org")
    # whisper (per minute) too: 60 s × 0.006 × 0.9 = $0.0054
    audio = compute_cost(Usage(audio_seconds=Decimal(60)), "whisper-1", AT, overrides=[org])
    assert audio.cost_usd == Decimal("0.0054")


def test_model_and_org_discounts_both_apply() -> None:
    model_deal = PriceOverride("gpt-4o", START, discount_pct=Decimal(50), id="m")
    org_old = PriceOverride("*", START, discount_pct=Decimal(30), id="o1")
    org_new = PriceOverride("*", START + timedelta(days=30), discount_pct=Decimal(10), id="o2")
    cost = compute_cost(USAGE, "gpt-4o", AT, overrides=[org_old, model_deal, org_new])
    # $0.0125 × 0.5 × 0.9 = $0.005625 (only the latest org-wide discount counts)
    assert cost.cost_usd == Decimal("0.005625")
    assert cost.price_id == "gpt-4o@2024-10-02+discount:m+discount:o2"


def test_discount_never_prices_an_unknown_model() -> None:
    org = PriceOverride("*", START, discount_pct=Decimal(10))
    cost = compute_cost(USAGE, f"unknown-{uuid.uuid4().hex}", AT, overrides=[org])
    assert cost.cost_usd is None and cost.cost_source is CostSource.UNPRICED


def test_half_even_rounding_at_ten_places() -> None:
    model = f"tiny-{uuid.uuid4().hex[:6]}"
    tiny = Decimal("0.00005")  # per 1M tokens: 5e-11 USD per token

    def cost(tokens: int) -> Decimal | None:
        deal = PriceOverride(model, START, input_per_1m=tiny, output_per_1m=tiny)
        return compute_cost(Usage(prompt_tokens=tokens), model, AT, overrides=[deal]).cost_usd

    # 3 → 1.5e-10 → 2e-10; 5 → 2.5e-10 → 2e-10 (to even); 7 → 3.5e-10 → 4e-10
    assert [cost(3), cost(5), cost(7)] == [
        Decimal("0.0000000002"),
        Decimal("0.0000000002"),
        Decimal("0.0000000004"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "*", "input_per_1m": Decimal(1)}, "may only carry discount_pct"),
        ({"model": "gpt-4o", "discount_pct": Decimal(101)}, "within 0..100"),
        ({"model": "gpt-4o", "input_per_1m": Decimal(-1)}, "negative"),
        ({"model": "gpt-4o"}, "sets no price and no discount"),
        ({"model": "", "discount_pct": Decimal(1)}, "must not be empty"),
        ({"model": "gpt-4o", "discount_pct": Decimal(1), "effective_to": START}, "after"),
    ],
)
def test_invalid_overrides_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(PricingError, match=message):
        PriceOverride(effective_from=START, **kwargs)  # type: ignore[arg-type]


def test_naive_override_times_are_rejected() -> None:
    with pytest.raises(PricingError, match="timezone-aware"):
        PriceOverride("gpt-4o", datetime(2025, 1, 1), discount_pct=Decimal(1))


def test_overrides_round_trip_through_the_database(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    deal = PriceOverride(
        "gpt-4o",
        START,
        datetime(2026, 1, 1, tzinfo=UTC),
        input_per_1m=Decimal("2.125"),
        cached_input_per_1m=Decimal("1.0625"),
        output_per_1m=Decimal("8.5"),
        note="negotiated",
    )
    org = PriceOverride("*", START, discount_pct=Decimal("12.5"))
    with session_scope(engine) as session:
        stored = add_override(session, deal, now=AT)
        add_override(session, org, now=AT)
    assert stored.id is not None
    with Session(engine) as session:
        loaded = load_overrides(session)
    engine.dispose()
    assert [o.model for o in loaded] == ["gpt-4o", "*"]
    assert loaded[0] == PriceOverride(
        "gpt-4o",
        START,
        datetime(2026, 1, 1, tzinfo=UTC),
        Decimal("2.125"),
        Decimal("1.0625"),
        Decimal("8.5"),
        note="negotiated",
        id=stored.id,
    )
    assert loaded[1].discount_pct == Decimal("12.5")
    # and they price: (1000 × 2.125 + 1000 × 8.5) / 1M × 0.875 = $0.00929687500
    assert compute_cost(USAGE, "gpt-4o", AT, overrides=loaded).cost_usd == Decimal("0.009296875")
