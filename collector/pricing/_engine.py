"""Usage × price → exact cost. Pure: values in, a ``Cost`` out; no clock, no I/O.

The only side effect is one warning per unknown model (so an unpriced model is noticed
without flooding the log); the cost itself is ``None`` with source ``unpriced``, never $0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from fnmatch import fnmatchcase

from collector.errors import PricingError
from collector.pricing._catalog import Catalog, load_catalog
from collector.pricing._types import (
    STANDARD_TIERS,
    TIER_ALIASES,
    PriceEntry,
    PriceOverride,
    RateCard,
    ServiceTier,
    Unit,
    require_aware,
)
from collector.usage import Cost, CostSource, Usage

_log = logging.getLogger("collector.pricing")
_MILLION = Decimal(1_000_000)
_HUNDRED = Decimal(100)
_SIXTY = Decimal(60)
_QUANTUM = Decimal("1e-10")  # the database stores Numeric(20, 10)
_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN)
_DEFAULT_IMAGE = ("standard", "1024x1024")  # OpenAI's defaults when a request omits them
_GLOB_CHARS = frozenset("*?[")

# Models already reported as unpriced; only used so the warning is logged once per model.
_UNPRICED_LOGGED: set[str] = set()
_LOG_ONCE_LIMIT = 10_000


def resolve_price(model: str, at: datetime, *, catalog: Catalog | None = None) -> PriceEntry | None:
    """The catalog entry in force for ``model`` at the instant ``at`` (aware), if any."""
    require_aware(at, "at")
    return (catalog or load_catalog()).resolve(model, at)


def applicable_overrides(
    model: str, at: datetime, overrides: Sequence[PriceOverride]
) -> tuple[PriceOverride, ...]:
    """What :func:`compute_cost` would apply to ``model`` at ``at``: its own, then org-wide."""
    require_aware(at, "at")
    active = [o for o in overrides if o.active_at(at)]
    own = _model_override(active, model)
    found = [own] if own is not None else []
    return (*found, *(d for d in _discounts(None, active)))


def compute_cost(
    usage: Usage,
    model: str,
    at: datetime,
    *,
    batch: bool = False,
    service_tier: str | None = None,
    overrides: Sequence[PriceOverride] = (),
    estimated: bool = False,
    catalog: Catalog | None = None,
) -> Cost:
    """Price one request exactly, with the price in force at ``at`` for the serving model.

    ``service_tier`` is the tier that *served* the request (the response's field); a mode
    (batch, flex, priority, …) without published rates is unpriced, never guessed.
    ``estimated`` marks usage we counted ourselves. Overrides take precedence over the
    catalog; an org-wide (``"*"``) discount applies last.
    """
    tier = _check_question(usage, at, batch=batch, service_tier=service_tier)
    entry = (catalog or load_catalog()).resolve(model, at)
    active = [o for o in overrides if o.active_at(at)]
    own = _model_override(active, model)
    standard = not batch and (tier is None or tier in STANDARD_TIERS)
    rates = _rate_override(own, entry, standard=standard)
    with localcontext(_CONTEXT):
        amount = _base_amount(usage, entry, rates, batch=batch, tier=tier)
        if amount is None:
            _log_unpriced(model, entry)
            return Cost(None, CostSource.UNPRICED, entry.id if entry else None)
        price_id = _price_id(entry, rates)
        for discount in _discounts(own, active):
            amount = amount * (_HUNDRED - _pct(discount)) / _HUNDRED
            price_id += f"+discount:{discount.ref}"
        source = CostSource.ESTIMATED if estimated else CostSource.COMPUTED
        return Cost(amount.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN), source, price_id)


def _check_question(
    usage: Usage, at: datetime, *, batch: bool, service_tier: str | None
) -> ServiceTier | None:
    """Reject malformed cost questions up front, as PricingError; return the tier."""
    tier = parse_service_tier(service_tier)
    if batch and tier not in (None, *STANDARD_TIERS):
        raise PricingError(f"batch requests have no service tier, got {service_tier!r}")
    require_aware(at, "at")
    try:
        usage.validate()
    except ValueError as exc:
        raise PricingError(f"invalid usage: {exc}") from None
    return tier


def parse_service_tier(value: str | None) -> ServiceTier | None:
    """The tier as an enum; an unknown tier is a bad cost question, not a silent default."""
    if value is None:
        return None
    if value in TIER_ALIASES:
        return TIER_ALIASES[value]
    try:
        return ServiceTier(value)
    except ValueError:
        known = ", ".join([*(t.value for t in ServiceTier), *TIER_ALIASES])
        raise PricingError(f"unknown service tier {value!r} (known: {known})") from None


def _rate_override(
    own: PriceOverride | None, entry: PriceEntry | None, *, standard: bool
) -> PriceOverride | None:
    """The override whose rates apply: always for uncatalogued models, else standard tier only.

    Batch, flex and priority keep the catalog's rates for their mode (an imported or
    negotiated list price must not double a batch request's cost).
    """
    if own is None or not own.has_prices:
        return None
    if entry is None:
        return own
    return own if entry.unit is Unit.TOKEN and standard else None


def _base_amount(
    usage: Usage,
    entry: PriceEntry | None,
    rates: PriceOverride | None,
    *,
    batch: bool,
    tier: ServiceTier | None,
) -> Decimal | None:
    if entry is None:
        card = _override_card(rates)
        return None if card is None else _token_amount(usage, card)
    if entry.unit is Unit.MINUTE:
        assert entry.per_minute is not None
        return usage.audio_seconds * entry.per_minute / _SIXTY
    if entry.unit is Unit.CHARACTER:
        assert entry.per_1m_characters is not None
        return usage.characters * entry.per_1m_characters / _MILLION
    if entry.unit is Unit.IMAGE:
        return _image_amount(usage, entry)
    card = entry.rate_card(batch=batch, tier=tier)
    if card is None:
        return None
    if rates is not None:
        card = replace(
            card,
            input=_first(rates.input_per_1m, card.input),
            cached_input=_first(rates.cached_input_per_1m, card.cached_input),
            output=_first(rates.output_per_1m, card.output),
        )
    return _token_amount(usage, card)


def _token_amount(usage: Usage, card: RateCard) -> Decimal | None:
    """Text, cached, audio and image tokens each at their own rate, as OpenAI bills them."""
    text_in = (
        usage.prompt_tokens
        - usage.cached_tokens
        - usage.audio_prompt_tokens
        - usage.image_prompt_tokens
    )
    text_out = (
        usage.completion_tokens - usage.audio_completion_tokens - usage.image_completion_tokens
    )
    if text_in < 0 or text_out < 0:
        raise PricingError("cached/audio/image tokens exceed the prompt or completion total")
    parts = (
        (text_in, card.input),
        (usage.cached_tokens, _first(card.cached_input, card.input)),
        (usage.audio_prompt_tokens, card.audio_input),
        (usage.image_prompt_tokens, _first(card.image_input, card.input)),
        (text_out, card.output),
        (usage.audio_completion_tokens, card.audio_output),
        (usage.image_completion_tokens, _first(card.image_output, card.output)),
    )
    total = Decimal(0)
    for count, rate in parts:
        if count == 0:
            continue
        if rate is None:
            return None
        total += count * rate
    return total / _MILLION


def _image_amount(usage: Usage, entry: PriceEntry) -> Decimal | None:
    quality = usage.image_quality or _DEFAULT_IMAGE[0]
    size = usage.image_size or _DEFAULT_IMAGE[1]
    price = entry.per_image.get(f"{quality}/{size}")
    return None if price is None else usage.images * price


def _override_card(own: PriceOverride | None) -> RateCard | None:
    """Rates from an override alone, for models the catalog does not know."""
    if own is None or own.input_per_1m is None or own.output_per_1m is None:
        return None
    cached = _first(own.cached_input_per_1m, own.input_per_1m)
    return RateCard(input=own.input_per_1m, cached_input=cached, output=own.output_per_1m)


def _model_override(active: Sequence[PriceOverride], model: str) -> PriceOverride | None:
    """The most specific active override for ``model``: exact name, then the latest glob."""
    best: PriceOverride | None = None
    best_rank: tuple[bool, datetime, int] | None = None
    for override in active:
        if override.is_org_wide or not _matches(override.model, model):
            continue
        rank = (override.model == model, override.effective_from, len(override.model))
        if best_rank is None or rank > best_rank:
            best, best_rank = override, rank
    return best


def _discounts(own: PriceOverride | None, active: Sequence[PriceOverride]) -> list[PriceOverride]:
    """The model's own discount, then the latest org-wide one: both apply, in that order."""
    found = [own] if own is not None and own.discount_pct is not None else []
    org = [o for o in active if o.is_org_wide and o.discount_pct is not None]
    if org:
        found.append(max(org, key=lambda o: o.effective_from))
    return found


def _matches(pattern: str, model: str) -> bool:
    if _GLOB_CHARS.isdisjoint(pattern):
        return pattern == model
    return fnmatchcase(model, pattern)


def _price_id(entry: PriceEntry | None, rates: PriceOverride | None) -> str:
    if entry is None:
        assert rates is not None
        return f"override:{rates.ref}"
    return entry.id if rates is None else f"{entry.id}+override:{rates.ref}"


def _pct(override: PriceOverride) -> Decimal:
    assert override.discount_pct is not None
    return override.discount_pct


def _first(*values: Decimal | None) -> Decimal | None:
    for value in values:
        if value is not None:
            return value
    return None


def _log_unpriced(model: str, entry: PriceEntry | None) -> None:
    """Warn once per model and kind of gap; bounded, so odd model names cannot grow it forever."""
    key = f"{model}\x00{entry.id if entry else ''}"
    if key in _UNPRICED_LOGGED or len(_UNPRICED_LOGGED) >= _LOG_ONCE_LIMIT:
        return
    _UNPRICED_LOGGED.add(key)
    if entry is None:
        _log.warning("no price known for model %r; its cost is recorded as unpriced", model)
    else:
        _log.warning(
            "price %s has no rate for this usage or mode of %r; recorded as unpriced",
            entry.id,
            model,
        )
