"""The integer path of compute_cost books exactly what the Decimal path books.

The oracle is the Decimal path itself (``decimal_cost``, every case in Decimal arithmetic),
given the very plan compute_cost resolved. Every catalog entry, every processing mode,
regional requests, discounts, and usage with cached, audio, image tokens and tool calls;
then the rounding edges by hand.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.errors import PricingError
from collector.pricing import (
    PriceEntry,
    PriceOverride,
    compute_cost,
    load_catalog,
    parse_service_tier,
)
from collector.pricing._engine import decimal_cost
from collector.pricing._plan import resolve_plan
from collector.usage import Cost, CostSource, Usage

ENTRIES = load_catalog().entries
NEVER = datetime(2000, 1, 1, tzinfo=UTC)
DISCOUNT = (PriceOverride("*", NEVER, discount_pct=Decimal("7.5")),)
_COUNT = st.integers(0, 5) | st.integers(0, 300_000) | st.integers(0, 10**12)


@st.composite
def _usage(draw: st.DrawFn) -> Usage:
    prompt, completion = draw(_COUNT), draw(_COUNT)
    cached = draw(st.integers(0, prompt))
    audio_uncached = draw(st.integers(0, prompt - cached))
    cached_audio = draw(st.integers(0, cached))
    audio_in = audio_uncached + cached_audio
    image_in = draw(st.integers(0, prompt - cached - audio_uncached))
    writes = draw(st.just(0) | st.integers(0, prompt - cached - audio_uncached - image_in))
    audio_out = draw(st.integers(0, completion))
    image_out = draw(st.integers(0, completion - audio_out))
    tools = st.integers(0, 3)
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached,
        cache_write_tokens=writes, audio_prompt_tokens=audio_in, cached_audio_tokens=cached_audio,
        image_prompt_tokens=image_in, audio_completion_tokens=audio_out,
        image_completion_tokens=image_out, web_search_calls=draw(tools),
        web_search_preview_calls=draw(tools), file_search_calls=draw(tools),
        code_interpreter_sessions=draw(tools), image_generation_calls=draw(tools),
        computer_calls=draw(tools),
        image_quality=draw(st.sampled_from([None, "low", "high"])),
        image_size=draw(st.sampled_from([None, "1024x1024", "1536x1024"])),
    )  # fmt: skip


_MODES = st.sampled_from(
    [(False, None), (True, None), (False, "flex"), (False, "priority"), (False, "ultrafast")]
)


def _both(
    usage: Usage,
    model: str,
    at: datetime,
    batch: bool,
    tier: str | None,
    regional: bool = False,
    overrides: tuple[PriceOverride, ...] = (),
) -> tuple[Cost, Cost]:
    fast = compute_cost(
        usage, model, at, batch=batch, service_tier=tier, regional=regional, overrides=overrides
    )
    plan = resolve_plan(
        load_catalog(), model, at, batch=batch, tier=parse_service_tier(tier), overrides=overrides
    )
    exact = decimal_cost(usage, plan, model, regional=regional, estimated=False)
    return fast, exact


_DISCOUNTS = st.sampled_from(
    [(), DISCOUNT, (PriceOverride("*", NEVER, discount_pct=Decimal("12.345")),)]
)


@settings(max_examples=600, deadline=None)
@given(
    entry=st.sampled_from(ENTRIES),
    usage=_usage(),
    mode=_MODES,
    days=st.integers(0, 900),
    regional=st.booleans(),
    discounts=_DISCOUNTS,
)
def test_every_entry_books_what_the_decimal_path_books(
    entry: PriceEntry,
    usage: Usage,
    mode: tuple[bool, str | None],
    days: int,
    regional: bool,
    discounts: tuple[PriceOverride, ...],
) -> None:
    at = entry.effective_from + timedelta(days=days, hours=1)
    try:
        fast, exact = _both(usage, entry.model, at, *mode, regional, discounts)
    except PricingError:  # e.g. audio tokens beyond the prompt for this usage: both refuse
        with pytest.raises(PricingError):
            compute_cost(usage, entry.model, at, batch=mode[0], service_tier=mode[1])
        return
    assert (fast.cost_usd, fast.cost_source) == (exact.cost_usd, exact.cost_source)
    if fast.cost_usd is not None:
        assert fast.cost_usd.as_tuple().exponent == -10  # booked to 1e-10 USD, as before


@settings(max_examples=200, deadline=None)
@given(usage=_usage())
def test_plain_chat_usage_on_the_busiest_models(usage: Usage) -> None:
    at = datetime(2026, 12, 7, tzinfo=UTC)
    for model in ("gpt-4o", "gpt-5", "gpt-4.1-mini", "gpt-realtime", "gpt-6-sol", "gpt-5.4"):
        for regional in (False, True):
            fast, exact = _both(usage, model, at, False, None, regional, DISCOUNT)
            assert fast.cost_usd == exact.cost_usd, (model, regional)


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        # $0.00005 per 1M: 3 tokens are 1.5e-10, half to even → 2e-10
        (3, "2E-10"),
        # 5 tokens are 2.5e-10 → 2e-10 (even stays)
        (5, "2E-10"),
        # 7 tokens are 3.5e-10 → 4e-10
        (7, "4E-10"),
        # 1 token is 5e-11 → 0: a computed $0 of a priced, non-free model is allowed only
        # when the exact amount is not 0 (the Decimal path decides and books 0E-10)
        (1, "0E-10"),
    ],
)
def test_half_even_rounding_at_1e_10(tokens: int, expected: str) -> None:
    tiny = PriceOverride(
        "tiny-model", NEVER, input_per_1m=Decimal("0.00005"), output_per_1m=Decimal(0)
    )
    cost = compute_cost(Usage(prompt_tokens=tokens), "tiny-model", NEVER + timedelta(days=1),
                        overrides=(tiny,))  # fmt: skip
    assert cost.cost_usd is not None
    assert str(cost.cost_usd) == expected
    assert cost.cost_source is CostSource.COMPUTED


def test_units_without_a_rate_are_unpriced_not_zero() -> None:
    """gpt-5 publishes no audio rate: audio tokens must not fall through as $0."""
    usage = Usage(prompt_tokens=100, audio_prompt_tokens=50, completion_tokens=10)
    cost = compute_cost(usage, "gpt-5", datetime(2026, 1, 1, tzinfo=UTC))
    assert (cost.cost_usd, cost.cost_source) == (None, CostSource.UNPRICED)


def test_a_tool_priced_by_variant_takes_the_exact_path() -> None:
    usage = Usage(prompt_tokens=100, image_generation_calls=2, image_quality="high",
                  image_size="1536x1024")  # fmt: skip
    # 100 × $2 / 1M + 2 × $0.25
    assert compute_cost(usage, "gpt-4.1", datetime(2026, 12, 1, tzinfo=UTC)).cost_usd == (
        Decimal("0.5002")
    )


def test_negative_counts_are_still_named() -> None:
    with pytest.raises(PricingError, match="file_search_calls must be >= 0"):
        compute_cost(Usage(prompt_tokens=1, file_search_calls=-1), "gpt-5", NEVER)


def test_long_context_and_regional_uplift_by_hand() -> None:
    """gpt-5.4 over 272K input tokens, from a regional endpoint, with a web search: the
    uplift scales the tokens only. 300,000 × 5 + 10,000 × 22.50 = 1,725,000 per 1M →
    $1.725; + 10 % → $1.8975; + one web search $0.01 → $1.9075."""
    usage = Usage(prompt_tokens=300_000, completion_tokens=10_000, web_search_calls=1)
    cost = compute_cost(usage, "gpt-5.4", datetime(2026, 6, 1, tzinfo=UTC), regional=True)
    assert cost.cost_usd == Decimal("1.9075")


@pytest.mark.parametrize(
    "name", [f.name for f in fields(Usage) if f.type in ("int", int)]
)  # fmt: skip
def test_every_count_of_usage_is_checked(name: str) -> None:
    """Usage.validate checks the counts with one OR: a count added later must join it."""
    with pytest.raises(ValueError, match=f"{name} must be >= 0"):
        Usage(**{name: -1}).validate()  # type: ignore[arg-type]
