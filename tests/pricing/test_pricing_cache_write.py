"""Prompt-cache writes: GPT-5.6 and later bill them at 1.25x the input rate of the mode.

Worked examples from OpenAI's published rates (catalog ``sources.cache_write``): gpt-6-sol
input $2, cached $0.20, output $10 per 1M, so a cache write is $2.50 per 1M (batch and flex
$1.25, priority $5, over 272K input tokens doubled). A price without a cache-write rate
bills writes at the input rate and books the request ``estimated``, never ``computed``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from collector.errors import PricingError
from collector.pricing import PriceOverride, compute_cost, cost_breakdown, load_catalog
from collector.pricing._engine import decimal_cost
from collector.pricing._fast import fast_amount
from collector.pricing._plan import resolve_plan
from collector.usage import CACHE_WRITE_NOTE, CostSource, Usage

AT = datetime(2026, 12, 7, tzinfo=UTC)
# 10,000 prompt tokens: 2,000 read from the cache, 6,000 written to it, 2,000 plain input.
WRITE = Usage(prompt_tokens=10_000, cached_tokens=2_000, cache_write_tokens=6_000,
              completion_tokens=1_000)  # fmt: skip


@pytest.mark.parametrize(
    ("model", "mode", "expected"),
    [
        # 2,000 × 2 + 2,000 × 0.20 + 6,000 × 2.50 + 1,000 × 10 = 29,400 per 1M
        ("gpt-6-sol", (False, None), "0.0294"),
        # batch: 2,000 × 1 + 2,000 × 0.10 + 6,000 × 1.25 + 1,000 × 5 = 14,700
        ("gpt-6-sol", (True, None), "0.0147"),
        ("gpt-6-sol", (False, "flex"), "0.0147"),
        # priority: 2,000 × 4 + 2,000 × 0.40 + 6,000 × 5 + 1,000 × 20 = 58,800
        ("gpt-6-sol", (False, "priority"), "0.0588"),
        # gpt-5.6 (Sol): 2,000 × 4 + 2,000 × 0.40 + 6,000 × 5 + 1,000 × 20 = 58,800
        ("gpt-5.6", (False, None), "0.0588"),
        # gpt-6.1-sol ultrafast: 2,000 × 12 + 2,000 × 0.60 + 6,000 × 15 + 1,000 × 60 = 175,200
        ("gpt-6.1-sol", (False, "ultrafast"), "0.1752"),
        # gpt-6-cyber: 2,000 × 20 + 2,000 × 2 + 6,000 × 25 + 1,000 × 100 = 294,000
        ("gpt-6-cyber", (False, None), "0.294"),
    ],
)
def test_cache_writes_at_their_published_rate(
    model: str, mode: tuple[bool, str | None], expected: str
) -> None:
    cost = compute_cost(WRITE, model, AT, batch=mode[0], service_tier=mode[1])
    assert (cost.cost_usd, cost.cost_source, cost.note) == (
        Decimal(expected), CostSource.COMPUTED, None
    )  # fmt: skip


def test_every_entry_with_a_cache_write_factor_matches_litellm() -> None:
    """The factor gives LiteLLM 1.110.2's cache_creation_input_token_cost wherever it has one."""
    litellm = {
        "gpt-6-sol": "2.5", "gpt-6-luna": "0.125", "gpt-6-astra": "12.5", "gpt-6.1-sol": "2.5",
        "gpt-6.1-terra": "1.25", "gpt-6-rosalind": "18.75", "gpt-6-cyber": "25",
        "gpt-5.6-sol": "5", "gpt-5.6-terra": "2.5", "gpt-5.6-luna": "0.25",
        "gpt-5.6-cyber": "15.625", "gpt-daybreak-red-latest": "15.625",
        "gpt-daybreak-blue-latest": "5",
    }  # fmt: skip
    catalog = load_catalog()
    for model, rate in litellm.items():
        entry = catalog.resolve(model, AT)
        assert entry is not None and entry.cache_write_factor == Decimal("1.25"), model
        card = entry.rate_card(batch=False, tier=None)
        assert card is not None and card.cache_write == Decimal(rate), model


def test_long_context_doubles_the_write_rate_and_regional_adds_its_uplift() -> None:
    """gpt-6-sol over 272K: 250,000 × 4 + 30,000 × 0.40 + 20,000 × 5 + 1,000 × 15
    = 1,127,000 per 1M = $1.127; regional +10 % = $1.2397."""
    usage = Usage(prompt_tokens=300_000, cached_tokens=30_000, cache_write_tokens=20_000,
                  completion_tokens=1_000)  # fmt: skip
    assert compute_cost(usage, "gpt-6-sol", AT).cost_usd == Decimal("1.127")
    assert compute_cost(usage, "gpt-6-sol", AT, regional=True).cost_usd == Decimal("1.2397")


def test_an_override_keeps_the_write_factor_on_its_input_rate() -> None:
    deal = PriceOverride("gpt-6-sol", AT - timedelta(days=1), input_per_1m=Decimal("1.60"))
    # 2,000 × 1.60 + 2,000 × 0.20 + 6,000 × 2.00 + 1,000 × 10 = 25,600
    cost = compute_cost(WRITE, "gpt-6-sol", AT, overrides=(deal,))
    assert cost.cost_usd == Decimal("0.0256")


def test_a_price_without_a_write_rate_is_estimated_with_its_reason() -> None:
    """gpt-5.5 has no cache-write rate: writes at the input rate, booked estimated."""
    cost = compute_cost(WRITE, "gpt-5.5", AT)
    # 8,000 × 5 + 2,000 × 0.50 + 1,000 × 30 = 71,000
    assert (cost.cost_usd, cost.cost_source, cost.note) == (
        Decimal("0.071"), CostSource.ESTIMATED, CACHE_WRITE_NOTE
    )  # fmt: skip
    no_writes = Usage(prompt_tokens=10_000, cached_tokens=2_000, completion_tokens=1_000)
    assert compute_cost(no_writes, "gpt-5.5", AT).cost_source is CostSource.COMPUTED


def test_the_breakdown_shows_the_writes_and_sums_to_the_cost() -> None:
    cost, parts = cost_breakdown(WRITE, "gpt-6-sol", AT)
    named = {p.name: p for p in parts}
    assert named["cache_write_tokens"].units == Decimal(6_000)
    assert named["cache_write_tokens"].rate == Decimal("2.50")
    assert sum(p.amount for p in parts) == cost.cost_usd == Decimal("0.0294")


def test_writes_and_reads_cannot_exceed_the_prompt() -> None:
    usage = Usage(prompt_tokens=100, cached_tokens=60, cache_write_tokens=50)
    with pytest.raises(PricingError, match="cache_write_tokens cannot exceed"):
        compute_cost(usage, "gpt-6-sol", AT)


def test_the_integer_path_prices_writes_where_a_rate_is_known() -> None:
    """Writes with a rate take the integer path and book what the Decimal path books;
    without one the integer path declines, so the Decimal path can note the estimate."""
    for model, priced in (("gpt-6-sol", True), ("gpt-5.5", False)):
        plan = resolve_plan(load_catalog(), model, AT, batch=False, tier=None, overrides=())
        assert plan.fast is not None
        amount = fast_amount(WRITE, plan.fast)
        exact = decimal_cost(WRITE, plan, model, regional=False, estimated=False)
        assert (amount is not None) is priced, model
        if priced:
            assert amount == exact.cost_usd
