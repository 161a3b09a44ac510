"""The priced parts of one request: each billable unit with its count and rate.

One list serves both the cost (the sum of the parts) and its breakdown (the parts shown),
so what ``spendscope cost --json`` prints is what the gateway books. Token rates are per
1M tokens; tool calls, images, minutes and characters carry their own unit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from operator import attrgetter

from collector.errors import PricingError
from collector.pricing._tools import TOOL_FIELDS, ToolPrice
from collector.pricing._types import PriceEntry, RateCard, Unit
from collector.usage import Usage

MILLION = Decimal(1_000_000)
_ONE = Decimal(1)
_SIXTY = Decimal(60)
DEFAULT_IMAGE = ("standard", "1024x1024")  # OpenAI's defaults when a request omits them


@dataclass(frozen=True, slots=True)
class Part:
    """``units`` × ``rate`` ÷ ``per`` USD; ``rate`` None means no price for these units."""

    name: str
    units: Decimal
    rate: Decimal | None
    unit: str  # what the rate is per: "1M tokens", "call", "image", "minute", "1M characters"
    per: Decimal = MILLION

    @property
    def amount(self) -> Decimal | None:
        return None if self.rate is None else self.units * self.rate / self.per


def token_parts(usage: Usage, card: RateCard) -> tuple[tuple[str, int, Decimal | None], ...]:
    """Text, cached, audio and image tokens each at their own rate, as OpenAI bills them."""
    cached_audio = usage.cached_audio_tokens
    text_in = (
        usage.prompt_tokens
        - usage.cached_tokens
        - usage.cache_write_tokens
        - (usage.audio_prompt_tokens - cached_audio)
        - usage.image_prompt_tokens
    )
    text_out = (
        usage.completion_tokens - usage.audio_completion_tokens - usage.image_completion_tokens
    )
    if text_in < 0 or text_out < 0:
        raise PricingError("cached/audio/image tokens exceed the prompt or completion total")
    return (
        ("input_tokens", text_in, card.input),
        (
            "cached_input_tokens",
            usage.cached_tokens - cached_audio,
            _first(card.cached_input, card.input),
        ),
        ("cache_write_tokens", usage.cache_write_tokens, _first(card.cache_write, card.input)),
        ("audio_input_tokens", usage.audio_prompt_tokens - cached_audio, card.audio_input),
        ("cached_audio_input_tokens", cached_audio, card.cached_audio_input),
        ("image_input_tokens", usage.image_prompt_tokens, _first(card.image_input, card.input)),
        ("output_tokens", text_out, card.output),
        ("audio_output_tokens", usage.audio_completion_tokens, card.audio_output),
        (
            "image_output_tokens",
            usage.image_completion_tokens,
            _first(card.image_output, card.output),
        ),
    )


def tool_parts(usage: Usage, tools: Mapping[str, ToolPrice], card: RateCard | None) -> list[Part]:
    """Each built-in tool's calls at its per-call price (and a fixed token block, if any)."""
    parts: list[Part] = []
    variant = _image_variant(usage)
    for tool, field in TOOL_FIELDS.items():
        calls = getattr(usage, field)
        if not calls:
            continue
        price: ToolPrice | None = tools.get(tool)
        rate = None if price is None else price.rate(variant if price.per_variant else None)
        parts.append(Part(f"{tool}_calls", Decimal(calls), rate, "call", _ONE))
        if price is not None and price.input_tokens_per_call:
            block = Decimal(calls * price.input_tokens_per_call)
            rate = card.input if card is not None else None
            parts.append(Part(f"{tool}_content_tokens", block, rate, "1M tokens"))
    return parts


# Per usage field: how its calls are read, and (tool price, its simple per-call × 1M).
ToolRates = tuple[tuple[Callable[[Usage], int], ToolPrice | None, int | None], ...]


def tool_rates(tools: Mapping[str, ToolPrice]) -> ToolRates:
    """The per-request form of a plan's tool prices (resolved once per price window)."""
    out = []
    for tool, field in TOOL_FIELDS.items():
        price = tools.get(tool)
        out.append((attrgetter(field), price, None if price is None else price.simple_micro))
    return tuple(out)


def tool_amount_per_million(
    usage: Usage, rates: ToolRates, card: RateCard | None
) -> Decimal | None:
    """The sum of :func:`tool_parts` × 1M, without building them (the per-request path):
    added to the token total before its one division by 1M; simple fees add as integers."""
    simple = 0
    exact = Decimal(0)
    for calls_of, price, micro in rates:
        calls = calls_of(usage)
        if not calls:
            continue
        if micro is not None:
            simple += calls * micro
            continue
        if price is None:
            return None
        exact += calls * price.rate(_image_variant(usage)) * MILLION
        if price.input_tokens_per_call:
            if card is None or card.input is None:
                return None
            exact += calls * price.input_tokens_per_call * card.input
    return exact + simple


def unit_part(usage: Usage, entry: PriceEntry) -> Part:
    """The one part of an entry billed by minute, character or image."""
    if entry.unit is Unit.MINUTE:
        return Part("audio_minutes", usage.audio_seconds, entry.per_minute, "minute", _SIXTY)
    if entry.unit is Unit.CHARACTER:
        chars = Decimal(usage.characters)
        return Part("characters", chars, entry.per_1m_characters, "1M characters")
    quality = usage.image_quality or DEFAULT_IMAGE[0]
    size = usage.image_size or DEFAULT_IMAGE[1]
    rate = entry.per_image.get(f"{quality}/{size}")
    return Part(f"images {quality}/{size}", Decimal(usage.images), rate, "image", _ONE)


def _image_variant(usage: Usage) -> str | None:
    if usage.image_quality is None and usage.image_size is None:
        return None
    return f"{usage.image_quality or 'auto'}/{usage.image_size or 'auto'}"


def _first(*values: Decimal | None) -> Decimal | None:
    for value in values:
        if value is not None:
            return value
    return None
