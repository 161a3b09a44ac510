"""Which rates price a request: the catalog entry, the override, the discounts — remembered.

Everything but the usage is the same for every request of one model in one mode between two
price changes, so the resolved :class:`PricePlan` is kept with the window of time in which
it holds: from the latest catalog or override boundary at or before the request's instant to
the next one after it. A plan is reused only for the same catalog object, the same override
override objects (any other sequence of overrides, even an equal one, starts a fresh cache),
the same model, mode and tier, and an instant inside its window; so a cached answer is always
the answer a fresh resolution would give. Money is not cached: the amount is computed from
the usage each time.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from fnmatch import fnmatchcase

from collector.pricing._catalog import Catalog
from collector.pricing._fast import FastRates, Uplift, fast_rates, uplift_of
from collector.pricing._parts import ToolRates, tool_rates
from collector.pricing._tools import ToolPrice
from collector.pricing._types import (
    STANDARD_TIERS,
    PriceEntry,
    PriceOverride,
    RateCard,
    ServiceTier,
    Unit,
    mode_name,
)

_GLOB_CHARS = frozenset("*?[")
_PLAN_LIMIT = 4096  # plans per cache (model x mode x tier); cleared when full
_Key = tuple[str, bool, ServiceTier | None]  # model, batch, tier


@dataclass(frozen=True, slots=True)
class PricePlan:
    """Everything that prices one request except its usage."""

    entry: PriceEntry | None
    card: RateCard | None  # token rates once mode and override are settled (None: not tokens)
    discounts: tuple[PriceOverride, ...]  # the model's own, then the org-wide one
    price_id: str | None  # with the ``+discount:`` suffixes; None when nothing prices it
    free: bool = False  # every published rate is 0 (moderation): a $0 cost is the real price
    tools: Mapping[str, ToolPrice] = field(default_factory=dict)  # built-in tool fees in force
    tool_rates: ToolRates = ()  # the same, in the per-request form (``_parts.tool_rates``)
    assumed: bool = False  # an unlisted dated snapshot priced by its undated name
    # Long-context tier: above ``long_threshold`` input tokens the request is priced with
    # ``long_card`` (None: this mode publishes no long-context rate, so it is unpriced).
    long_threshold: int | None = None
    long_card: RateCard | None = None
    uplift_pct: Decimal | None = None  # regional-processing uplift of the token amount
    # The token rates and simple tool fees as integers (``_fast``); None when an assumed
    # snapshot price leaves every request to the Decimal path.
    fast: FastRates | None = None
    fast_long: FastRates | None = None  # the same for the long-context tier's rates
    fast_uplift: Uplift | None = None  # ``uplift_pct`` in integers
    fast_discounts: tuple[Uplift, ...] = ()  # ``discounts``, as negative percentages

    def card_for(self, prompt_tokens: int) -> tuple[RateCard | None, bool]:
        """The token rates for a request with ``prompt_tokens`` input tokens, and whether
        they are the long-context tier's."""
        if self.long_threshold is not None and prompt_tokens > self.long_threshold:
            return self.long_card, True
        return self.card, False


def resolve_plan(
    catalog: Catalog,
    model: str,
    at: datetime,
    *,
    batch: bool,
    tier: ServiceTier | None,
    overrides: Sequence[PriceOverride],
) -> PricePlan:
    """The plan in force for ``model`` at ``at`` (cached per price window, see module doc)."""
    cache = _cache_for(catalog, overrides)
    key: _Key = (model, batch, tier)
    found = cache.plans.get(key)
    if found is not None and found[0] <= at < found[1]:
        return found[2]
    entry, start, end = catalog.span(model, at)
    start, end = _override_window(cache.overrides, at, start, end)
    start, end = catalog.tools.window(at, start, end)
    plan = _build_plan(entry, key, at, cache.overrides)
    if plan.price_id is not None:
        assumed = catalog.assumed(model) and "+override:" not in plan.price_id
        tools = catalog.tools.rates(model, at)
        rates = tool_rates(tools)
        plan = replace(plan, free=_free(plan), assumed=assumed, tools=tools, tool_rates=rates)
        if plan.card is not None and not assumed:
            plan = _with_fast(plan)
    if len(cache.plans) >= _PLAN_LIMIT:
        cache.plans.clear()
    cache.plans[key] = (start, end, plan)
    return plan


def _with_fast(plan: PricePlan) -> PricePlan:
    """``plan`` with the integer form of its rates (``_fast``) for the common request."""
    assert plan.card is not None  # noqa: S101 - type narrowing: the caller checked
    long = plan.long_card
    return replace(
        plan,
        fast=fast_rates(plan.card, plan.tool_rates),
        fast_long=fast_rates(long, plan.tool_rates) if long is not None else None,
        fast_uplift=uplift_of(plan.uplift_pct) if plan.uplift_pct else None,
        fast_discounts=tuple(_taken_off(d) for d in plan.discounts),
    )


def _taken_off(discount: PriceOverride) -> Uplift:
    assert discount.discount_pct is not None  # noqa: S101 - type narrowing: a discount has one
    return uplift_of(-discount.discount_pct)


@dataclass(slots=True)
class _Cache:
    catalog: Catalog
    overrides: tuple[PriceOverride, ...]
    plans: dict[_Key, tuple[datetime, datetime, PricePlan]]


_current: list[_Cache] = []  # the one cache in use (replaced, never mutated across inputs)
_swap = threading.Lock()


def _cache_for(catalog: Catalog, overrides: Sequence[PriceOverride]) -> _Cache:
    """The cache for exactly these inputs; a new one when the catalog or overrides differ."""
    frozen = overrides if type(overrides) is tuple else tuple(overrides)
    current = _current[0] if _current else None
    if current is not None and current.catalog is catalog and _same(current.overrides, frozen):
        return current
    fresh = _Cache(catalog, frozen, {})
    with _swap:
        _current[:] = [fresh]
    return fresh


def _same(a: tuple[PriceOverride, ...], b: tuple[PriceOverride, ...]) -> bool:
    """The very same override objects, in the same order (frozen values: nothing to compare)."""
    return a is b or (len(a) == len(b) and all(map(operator.is_, a, b)))


def _free(plan: PricePlan) -> bool:
    """Every rate that could bill this plan is published as 0 (e.g. moderation)."""
    entry, card = plan.entry, plan.card
    if card is not None:
        rates = [
            card.input, card.cached_input, card.output, card.audio_input,
            card.audio_output, card.image_input, card.image_output, card.cached_audio_input,
        ]  # fmt: skip
    elif entry is not None:
        rates = [entry.per_minute, entry.per_1m_characters, *entry.per_image.values()]
    else:
        return False
    published = [r for r in rates if r is not None]
    return bool(published) and not any(published)


def _override_window(
    overrides: Sequence[PriceOverride], at: datetime, start: datetime, end: datetime
) -> tuple[datetime, datetime]:
    """Narrow [start, end) to the span in which no override starts or stops."""
    for override in overrides:
        for bound in (override.effective_from, override.effective_to):
            if bound is None:
                continue
            if bound <= at:
                start = max(start, bound)
            else:
                end = min(end, bound)
    return start, end


def _build_plan(
    entry: PriceEntry | None, key: _Key, at: datetime, overrides: Sequence[PriceOverride]
) -> PricePlan:
    model, batch, tier = key
    active = [o for o in overrides if o.active_at(at)]
    own = model_override(active, model)
    standard = not batch and (tier is None or tier in STANDARD_TIERS)
    rates = _rate_override(own, entry, standard=standard)
    card = _card(entry, rates, batch=batch, tier=tier)
    discounts = tuple(discounts_for(own, active))
    if entry is None and rates is None:
        return PricePlan(None, None, discounts, None)
    price_id = _price_id(entry, rates)
    for discount in discounts:
        price_id += f"+discount:{discount.ref}"
    plan = PricePlan(entry, card, discounts, price_id)
    if entry is None:
        return plan
    tier_of = entry.long_context
    if tier_of is not None and card is not None:
        in_mode = mode_name(batch=batch, tier=tier) in tier_of.modes
        long_card = tier_of.scale(card) if in_mode else None
        plan = replace(plan, long_threshold=tier_of.threshold, long_card=long_card)
    if entry.regional_uplift_pct:
        plan = replace(plan, uplift_pct=entry.regional_uplift_pct)
    return plan


def _card(
    entry: PriceEntry | None, rates: PriceOverride | None, *, batch: bool, tier: ServiceTier | None
) -> RateCard | None:
    """The token rates that apply (None for entries billed by minute, character or image)."""
    if entry is None:
        return _override_card(rates)
    if entry.unit is not Unit.TOKEN:
        return None
    card = entry.rate_card(batch=batch, tier=tier)
    if card is None or rates is None:
        return card
    new_input = first_price(rates.input_per_1m, card.input)
    factor = entry.cache_write_factor
    return replace(
        card,
        input=new_input,
        cached_input=first_price(rates.cached_input_per_1m, card.cached_input),
        output=first_price(rates.output_per_1m, card.output),
        cache_write=None if factor is None or new_input is None else new_input * factor,
    )


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


def _override_card(own: PriceOverride | None) -> RateCard | None:
    """Rates from an override alone, for models the catalog does not know."""
    if own is None or own.input_per_1m is None or own.output_per_1m is None:
        return None
    cached = first_price(own.cached_input_per_1m, own.input_per_1m)
    return RateCard(input=own.input_per_1m, cached_input=cached, output=own.output_per_1m)


def model_override(active: Sequence[PriceOverride], model: str) -> PriceOverride | None:
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


def discounts_for(
    own: PriceOverride | None, active: Sequence[PriceOverride]
) -> list[PriceOverride]:
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
        assert rates is not None  # noqa: S101 - type narrowing
        return f"override:{rates.ref}"
    return entry.id if rates is None else f"{entry.id}+override:{rates.ref}"


def first_price(*values: Decimal | None) -> Decimal | None:
    """The first published price of ``values`` (None when none is)."""
    for value in values:
        if value is not None:
            return value
    return None
