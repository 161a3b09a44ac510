"""Usage × price → exact cost. Pure: values in, a ``Cost`` out; no clock, no I/O.

The only side effect is one warning per unknown model (so an unpriced model is noticed
without flooding the log); the cost itself is ``None`` with source ``unpriced``, never $0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from collector.errors import PricingError
from collector.pricing._catalog import Catalog, load_catalog
from collector.pricing._fast import fast_amount
from collector.pricing._parts import MILLION, token_parts, tool_amount_per_million, unit_part
from collector.pricing._plan import (
    PricePlan,
    discounts_for,
    model_override,
    resolve_plan,
)
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
from collector.providers import OTHER
from collector.units import MONEY_UNIT
from collector.usage import (
    ASSUMED_NOTE,
    CACHE_WRITE_NOTE,
    NO_UNITS_NOTE,
    Cost,
    CostSource,
    Usage,
)

_log = logging.getLogger("collector.pricing")
_HUNDRED = Decimal(100)
_QUANTUM = MONEY_UNIT  # the database stores Numeric(20, 10)
_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN)

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
    own = model_override(active, model)
    found = [own] if own is not None else []
    return (*found, *(d for d in discounts_for(None, active)))


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
    regional: bool = False,
    provider: str | None = None,
) -> Cost:
    """Price one request exactly, with the price in force at ``at`` for the serving model.

    ``service_tier`` is the tier that *served* the request (the response's field); a mode
    (batch, flex, priority, …) without published rates is unpriced, never guessed.
    ``estimated`` marks usage we counted ourselves; ``regional``, a request served by a
    regional-processing (data residency) endpoint, which adds the entry's uplift to the
    token amount. A request over an entry's long-context threshold is priced, whole, at
    the long-context rates (unpriced in a mode that publishes none). Overrides take
    precedence over the catalog; an org-wide (``"*"``) discount applies last. Which rates
    apply is resolved once per model, mode and price window (:func:`resolve_plan`); the
    money, every time. ``provider`` (the one that served it) keeps a model to that provider's
    entries: another provider's price for the same name is never used (unpriced instead).
    """
    tier = _check_question(usage, at, batch=batch, service_tier=service_tier)
    plan = resolve_plan(
        catalog or load_catalog(), model, at, batch=batch, tier=tier, overrides=overrides
    )
    entry = plan.entry
    if provider not in (None, OTHER) and entry is not None and entry.provider != provider:
        return Cost(None, CostSource.UNPRICED, None, _other_provider(entry, str(provider)))
    quick = _integer_cost(usage, plan, regional=regional, estimated=estimated)
    if quick is not None:
        return quick
    return decimal_cost(usage, plan, model, regional=regional, estimated=estimated)


def _other_provider(entry: PriceEntry, provider: str) -> str:
    return f"served by {provider}; the catalog prices {entry.model} for {entry.provider} only"


def decimal_cost(
    usage: Usage, plan: PricePlan, model: str, *, regional: bool, estimated: bool
) -> Cost:
    """The cost in Decimal arithmetic: every case, the reference the integer path equals."""
    with localcontext(_CONTEXT):
        amount = _base_amount(usage, plan, regional=regional)
        if amount is None or plan.price_id is None:
            entry = plan.entry
            _log_unpriced(model, entry)
            price_id = entry.id if entry else None
            return Cost(None, CostSource.UNPRICED, price_id, _gap(usage, plan))
        if not amount and not plan.free and not _has_units(usage, plan):
            return Cost(None, CostSource.UNPRICED, plan.price_id, NO_UNITS_NOTE)
        for discount in plan.discounts:
            amount = amount * (_HUNDRED - _pct(discount)) / _HUNDRED
        if usage.cache_write_tokens and not plan.assumed and _no_write_rate(usage, plan):
            cost = amount.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
            return Cost(cost, CostSource.ESTIMATED, plan.price_id, CACHE_WRITE_NOTE)
        return _settled(amount, plan, model, estimated=estimated)


def _integer_cost(usage: Usage, plan: PricePlan, *, regional: bool, estimated: bool) -> Cost | None:
    """The common request priced in whole numbers (``_fast``); None: the Decimal path decides."""
    fast = plan.fast
    long = plan.long_threshold
    if fast is not None and long is not None and usage.prompt_tokens > long:
        fast = plan.fast_long
    if fast is None:
        return None
    amount = fast_amount(usage, fast, plan.fast_uplift if regional else None, plan.fast_discounts)
    if amount is None:
        return None
    return Cost(amount, CostSource.ESTIMATED if estimated else CostSource.COMPUTED, plan.price_id)


def as_reported(cost: Cost) -> Cost:
    """A catalog cost of usage the client reported: ``computed`` becomes ``reported``."""
    if cost.cost_source is CostSource.COMPUTED:
        return Cost(cost.cost_usd, CostSource.REPORTED, cost.price_id, cost.note)
    return cost


def _settled(amount: Decimal, plan: PricePlan, model: str, *, estimated: bool) -> Cost:
    """The final cost: ``estimated`` for counted usage or an assumed snapshot price."""
    cost = amount.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
    if plan.assumed:
        assert plan.entry is not None  # noqa: S101 - type narrowing
        note = f"{ASSUMED_NOTE} {model} is not in the catalog; priced as {plan.entry.id}"
        _log_assumed(model, plan.entry)
        return Cost(cost, CostSource.ESTIMATED, plan.price_id, note)
    source = CostSource.ESTIMATED if estimated else CostSource.COMPUTED
    return Cost(cost, source, plan.price_id)


def _no_write_rate(usage: Usage, plan: PricePlan) -> bool:
    """The request wrote to the prompt cache, but its price holds no cache-write rate: those
    tokens were billed at the input rate, which is exact only for models that charge no
    write fee, so the cost is an estimate (GPT-5.6 and later charge one)."""
    card = plan.card_for(usage.prompt_tokens)[0]
    return card is not None and card.cache_write is None


def _has_units(usage: Usage, plan: PricePlan) -> bool:
    """Whether the usage holds any unit this plan bills (tokens, seconds, characters, images).

    A priced model with none of them must not be booked as a computed $0: the usage did
    not say what was consumed (e.g. speech reported only as characters, priced per token).
    Tool calls alone do not count: one with a fee makes the amount positive, and one without
    (computer use bills its tokens) and no tokens is a usage that says nothing was billed.
    """
    entry = plan.entry
    if entry is None or entry.unit is Unit.TOKEN:
        return usage.prompt_tokens + usage.completion_tokens > 0
    if entry.unit is Unit.MINUTE:
        return usage.audio_seconds > 0
    if entry.unit is Unit.CHARACTER:
        return usage.characters > 0
    return usage.images > 0


def _check_question(
    usage: Usage, at: datetime, *, batch: bool, service_tier: str | None
) -> ServiceTier | None:
    """Reject malformed cost questions up front, as PricingError; return the tier."""
    tier = None if service_tier is None else parse_service_tier(service_tier)
    if batch and tier not in (None, *STANDARD_TIERS):
        raise PricingError(f"batch requests have no service tier, got {service_tier!r}")
    if at.tzinfo is None or at.utcoffset() is None:
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


def _gap(usage: Usage, plan: PricePlan) -> str | None:
    """Why a priced model's request is unpriced, when it is the long-context tier."""
    threshold = plan.long_threshold
    if threshold is None or plan.long_card is not None or usage.prompt_tokens <= threshold:
        return None
    return f"no long-context rate (over {threshold} input tokens) is published for this mode"


def _base_amount(usage: Usage, plan: PricePlan, *, regional: bool) -> Decimal | None:
    entry = plan.entry
    if entry is None or entry.unit is Unit.TOKEN:
        card = plan.card
        if plan.long_threshold is not None and usage.prompt_tokens > plan.long_threshold:
            card = plan.long_card
        if card is None:
            return None
        return _token_amount(usage, card, plan, regional=regional)
    return unit_part(usage, entry).amount


def _token_amount(
    usage: Usage, card: RateCard, plan: PricePlan, *, regional: bool
) -> Decimal | None:
    """Tokens at their per-1M rates (plus a regional uplift), then tool fees (scaled to
    per-1M: one division)."""
    total = Decimal(0)
    for _name, count, rate in token_parts(usage, card):
        if count == 0:
            continue
        if rate is None:
            return None
        total += count * rate
    if regional and plan.uplift_pct:
        total = total * (_HUNDRED + plan.uplift_pct) / _HUNDRED
    if usage.tool_calls:
        tools = tool_amount_per_million(usage, plan.tool_rates, card)
        if tools is None:
            return None
        total += tools
    return total / MILLION


def _pct(override: PriceOverride) -> Decimal:
    assert override.discount_pct is not None  # noqa: S101 - type narrowing
    return override.discount_pct


def _log_assumed(model: str, entry: PriceEntry) -> None:
    key = f"{model}\x00assumed"
    if key in _UNPRICED_LOGGED or len(_UNPRICED_LOGGED) >= _LOG_ONCE_LIMIT:
        return
    _UNPRICED_LOGGED.add(key)
    _log.warning("snapshot %r is not in the catalog; estimated with %s", model, entry.id)


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
