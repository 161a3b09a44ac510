"""Worst-case cost of a request before it runs: what a hard budget reserves.

worst = prompt_tokens × input price + n × (max output tokens) × output price, per 1M tokens.
Cached-token discounts are ignored (the worst case pays full input). A model with a
long-context tier is reserved at the tier's rates when the prompt is over its threshold, and
a model with a regional-processing uplift always with the uplift (which upstream serves it
is not known yet), so the reservation still bounds what settles. When the request sets
no ``max_tokens``/``max_completion_tokens``, the model's output cap is used: a request can
never bill more output than that, so settling never exceeds the reservation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from functools import lru_cache

from collector.units import MONEY_UNIT

_MILLION = Decimal(1_000_000)
_QUANTUM = MONEY_UNIT
_HUNDRED = Decimal(100)

# Published maximum output tokens per model family (longest prefix wins). Facts from the
# OpenAI models pages; a model not listed uses the ``budget_default_output_cap`` setting.
OUTPUT_CAPS: dict[str, int] = {
    "gpt-3.5-turbo": 4096,
    "gpt-4": 8192,
    "gpt-4-turbo": 4096,
    "gpt-4o": 16384,
    "gpt-4o-mini": 16384,
    "gpt-4.1": 32768,
    "gpt-4.1-mini": 32768,
    "gpt-4.1-nano": 32768,
    "gpt-5": 128000,
    "o1": 100000,
    "o1-mini": 65536,
    "o3": 100000,
    "o3-mini": 100000,
    "o4-mini": 100000,
}


@dataclass(frozen=True, slots=True)
class TokenPrices:
    """The two rates the worst case needs, USD per 1M tokens."""

    input_per_1m: Decimal
    output_per_1m: Decimal
    long_threshold: int | None = None  # above this many prompt tokens: the long rates
    long_input_per_1m: Decimal | None = None
    long_output_per_1m: Decimal | None = None
    uplift_pct: Decimal | None = None


@lru_cache(maxsize=1024)  # on every admission without max_tokens; the table never changes
def output_cap(model: str, default: int) -> int:
    """The most output tokens ``model`` can produce in one choice."""
    best: tuple[int, int] | None = None
    for prefix, cap in OUTPUT_CAPS.items():
        covers = model == prefix or model.startswith(prefix + "-")
        if covers and (best is None or len(prefix) > best[0]):
            best = (len(prefix), cap)
    return best[1] if best is not None else default


def worst_case_cost(
    prices: TokenPrices, prompt_tokens: int, max_output_tokens: int, n: int = 1
) -> Decimal:
    """The most this request can cost, rounded up to the stored 1e-10 USD."""
    if prompt_tokens < 0 or max_output_tokens < 0 or n < 1:
        raise ValueError("token counts must be >= 0 and n >= 1")
    input_rate, output_rate = prices.input_per_1m, prices.output_per_1m
    long_in, long_out = prices.long_input_per_1m, prices.long_output_per_1m
    over = prices.long_threshold is not None and prompt_tokens > prices.long_threshold
    if over and long_in is not None and long_out is not None:
        input_rate, output_rate = long_in, long_out
    amount = (
        Decimal(prompt_tokens) * input_rate + Decimal(n * max_output_tokens) * output_rate
    ) / _MILLION
    if prices.uplift_pct:
        amount = amount * (_HUNDRED + prices.uplift_pct) / _HUNDRED
    return amount.quantize(_QUANTUM, ROUND_CEILING)


def catalog_prices(
    model: str, at: datetime, service_tier: str | None = None, *, batch: bool = False
) -> TokenPrices | None:
    """Input/output rates from the pricing catalog (at Batch API rates with ``batch``), or
    None when the model is unpriced."""
    from collector.pricing import mode_name, parse_service_tier, resolve_price

    entry = resolve_price(model, at)
    if entry is None:
        return None
    tier = parse_service_tier(service_tier)
    card = entry.rate_card(batch=batch, tier=tier)
    if card is None or card.input is None:
        return None
    output = card.output
    if output is None and entry.mode == "embedding":
        output = Decimal(0)  # an embedding model answers no output tokens
    if output is None:
        return None
    prices = TokenPrices(card.input, output, uplift_pct=entry.regional_uplift_pct)
    long = entry.long_context
    if long is None or mode_name(batch=batch, tier=tier) not in long.modes:
        return prices
    scaled = long.scale(card)
    return replace(
        prices,
        long_threshold=long.threshold,
        long_input_per_1m=scaled.input,
        long_output_per_1m=scaled.output,
    )
