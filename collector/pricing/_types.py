"""Value types of the pricing domain: catalog entries, rate cards and price overrides.

Every price is a ``Decimal`` in USD per 1M tokens unless its name says otherwise
(``per_minute``, ``per_1m_characters``, ``per_image``). ``None`` means "not published",
which is different from ``Decimal(0)`` (a published free price, e.g. moderation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from collector.errors import PricingError

WILDCARD = "*"


class Unit(StrEnum):
    """What a catalog entry bills for; the cost formula follows from it."""

    TOKEN = "token"  # noqa: S105 - a unit's name, not a secret
    MINUTE = "minute"
    CHARACTER = "character"
    IMAGE = "image"


class ServiceTier(StrEnum):
    """OpenAI ``service_tier`` values (the API's enum); ``fast`` is billed as ``priority``."""

    AUTO = "auto"
    DEFAULT = "default"
    FLEX = "flex"
    PRIORITY = "priority"
    SCALE = "scale"
    ULTRAFAST = "ultrafast"


STANDARD_TIERS = frozenset({ServiceTier.AUTO, ServiceTier.DEFAULT})
TIER_ALIASES = {"fast": ServiceTier.PRIORITY}


def mode_name(*, batch: bool, tier: ServiceTier | None) -> str:
    """The processing mode a request was billed in: ``batch``, ``standard`` or its tier."""
    if batch:
        return "batch"
    return "standard" if tier is None or tier in STANDARD_TIERS else tier.value


@dataclass(frozen=True, slots=True)
class TierRates:
    """Text-token rates of one processing mode (batch, flex, priority), per 1M tokens."""

    input: Decimal | None = None
    cached_input: Decimal | None = None
    output: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RateCard:
    """The per-1M-token rates that apply to one request once mode and overrides are settled."""

    input: Decimal | None
    cached_input: Decimal | None
    output: Decimal | None
    audio_input: Decimal | None = None
    audio_output: Decimal | None = None
    image_input: Decimal | None = None
    image_output: Decimal | None = None
    cached_audio_input: Decimal | None = None
    # Prompt tokens written to the prompt cache; None: the entry has no cache-write rate
    # (models before GPT-5.6 bill such tokens as input, with no extra fee).
    cache_write: Decimal | None = None


@dataclass(frozen=True, slots=True)
class LongContext:
    """A context-length tier: a request with more than ``threshold`` input tokens (cached
    ones included) is priced, whole, at ``input_factor`` × every input-side rate (text,
    cached, audio, image input) and ``output_factor`` × every output-side rate. ``modes``
    are the processing modes it is published for (``standard``, ``batch``, ``flex``, …); in
    any other mode such a request has no published price and is unpriced.
    """

    threshold: int
    input_factor: Decimal
    output_factor: Decimal
    modes: frozenset[str]

    def scale(self, card: RateCard) -> RateCard:
        """``card`` with the tier's factors applied."""
        up, out = self.input_factor, self.output_factor
        return RateCard(
            input=_times(card.input, up),
            cached_input=_times(card.cached_input, up),
            output=_times(card.output, out),
            audio_input=_times(card.audio_input, up),
            audio_output=_times(card.audio_output, out),
            image_input=_times(card.image_input, up),
            image_output=_times(card.image_output, out),
            cached_audio_input=_times(card.cached_audio_input, up),
            cache_write=_times(card.cache_write, up),
        )


def _times(rate: Decimal | None, factor: Decimal | None) -> Decimal | None:
    return None if rate is None or factor is None else rate * factor


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """One published price of one model, in force from ``effective_from`` until the next one."""

    id: str
    model: str
    family: str
    effective_from: datetime
    source: str
    mode: str = "chat"
    unit: Unit = Unit.TOKEN
    aliases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    input: Decimal | None = None
    cached_input: Decimal | None = None
    output: Decimal | None = None
    batch: TierRates | None = None
    tiers: Mapping[str, TierRates] = field(default_factory=dict)
    audio_input: Decimal | None = None
    audio_output: Decimal | None = None
    image_input: Decimal | None = None
    image_output: Decimal | None = None
    cached_audio_input: Decimal | None = None
    per_minute: Decimal | None = None
    per_1m_characters: Decimal | None = None
    per_image: Mapping[str, Decimal] = field(default_factory=dict)
    long_context: LongContext | None = None
    regional_uplift_pct: Decimal | None = None  # on regional-processing (data residency) hosts
    # Cache writes cost this × the mode's input rate (GPT-5.6 and later: 1.25); None: the
    # entry publishes no cache-write rate.
    cache_write_factor: Decimal | None = None
    note: str | None = None
    provider: str = "openai"  # whose price this is (collector.providers)

    @property
    def names(self) -> tuple[str, ...]:
        """Every exact name this entry answers to."""
        return (self.model, *self.aliases)

    def rate_card(self, *, batch: bool, tier: ServiceTier | None) -> RateCard | None:
        """Rates for the mode that served the request; None when that mode has no price."""
        if batch:
            mode = self.batch
        elif tier is None or tier in STANDARD_TIERS:
            mode = TierRates(self.input, self.cached_input, self.output)
        else:
            mode = self.tiers.get(tier.value)
        if mode is None:
            return None
        text = TierRates(
            mode.input if mode.input is not None else self.input,
            mode.cached_input if mode.cached_input is not None else mode.input,
            mode.output if mode.output is not None else self.output,
        )
        return RateCard(
            input=text.input,
            cached_input=text.cached_input,
            output=text.output,
            audio_input=self.audio_input,
            audio_output=self.audio_output,
            image_input=self.image_input,
            image_output=self.image_output,
            cached_audio_input=self.cached_audio_input,
            cache_write=_times(text.input, self.cache_write_factor),
        )


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """A negotiated price or discount that takes precedence over the catalog.

    ``model`` is an exact model name, a glob (``ft:gpt-4o-mini-*``) or ``"*"``. A ``"*"``
    override is an org-wide discount: it may carry only ``discount_pct``, applied to the
    final cost. Model overrides replace the catalog's standard text rates (fields left
    ``None`` keep the catalog's) and may add their own discount.
    """

    model: str
    effective_from: datetime
    effective_to: datetime | None = None
    input_per_1m: Decimal | None = None
    cached_input_per_1m: Decimal | None = None
    output_per_1m: Decimal | None = None
    discount_pct: Decimal | None = None
    note: str | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        require_aware(self.effective_from, "effective_from")
        if self.effective_to is not None:
            require_aware(self.effective_to, "effective_to")
            if self.effective_to <= self.effective_from:
                raise PricingError("override effective_to must be after effective_from")
        if not self.model:
            raise PricingError("override model must not be empty")
        prices = (self.input_per_1m, self.cached_input_per_1m, self.output_per_1m)
        if any(p is not None and p < 0 for p in prices):
            raise PricingError(f"override for {self.model!r} has a negative price")
        pct = self.discount_pct
        if pct is not None and not Decimal(0) <= pct <= Decimal(100):
            raise PricingError(f"override discount_pct must be within 0..100, got {pct}")
        if self.model == WILDCARD and any(p is not None for p in prices):
            raise PricingError('an org-wide ("*") override may only carry discount_pct')
        if self.model != WILDCARD and pct is None and all(p is None for p in prices):
            raise PricingError(f"override for {self.model!r} sets no price and no discount")

    @property
    def is_org_wide(self) -> bool:
        return self.model == WILDCARD

    @property
    def has_prices(self) -> bool:
        return any(
            p is not None for p in (self.input_per_1m, self.cached_input_per_1m, self.output_per_1m)
        )

    @property
    def ref(self) -> str:
        """A short, stable name for price ids and logs."""
        if self.id is not None:
            return self.id
        return f"{self.model}@{self.effective_from.date().isoformat()}"

    def active_at(self, at: datetime) -> bool:
        """In force at ``at``: from ``effective_from`` inclusive to ``effective_to`` exclusive."""
        if at < self.effective_from:
            return False
        return self.effective_to is None or at < self.effective_to


def require_aware(value: datetime, name: str) -> None:
    """Reject naive datetimes: a price change is an instant, and naive times are ambiguous."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise PricingError(f"{name} must be timezone-aware")
