"""A cost, part by part: units × rate = amount for each billed unit, summing to the cost.

``spendscope cost --json`` prints this so anyone can check a bill line by hand. The parts
are the ones :func:`compute_cost` adds up (``_parts``); discounts are negative parts, and
the half-even rounding of the total to 10 decimal places, when it moves anything, is a
part of its own, so the amounts always sum exactly to ``cost_usd``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from collector.pricing._catalog import Catalog, load_catalog
from collector.pricing._engine import compute_cost, parse_service_tier
from collector.pricing._parts import MILLION, Part, token_parts, tool_parts, unit_part
from collector.pricing._plan import PricePlan, resolve_plan
from collector.pricing._types import PriceOverride, Unit
from collector.units import MONEY_UNIT
from collector.usage import Cost, Usage

_QUANTUM = MONEY_UNIT
_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN)
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class PricedPart:
    """One line of a cost: ``units`` at ``rate`` per ``unit`` comes to ``amount`` USD."""

    name: str
    units: Decimal
    rate: Decimal
    unit: str
    amount: Decimal


def cost_breakdown(
    usage: Usage,
    model: str,
    at: datetime,
    *,
    batch: bool = False,
    service_tier: str | None = None,
    overrides: Sequence[PriceOverride] = (),
    catalog: Catalog | None = None,
    regional: bool = False,
) -> tuple[Cost, tuple[PricedPart, ...]]:
    """:func:`compute_cost` and its parts (none when the cost is unpriced).

    Token parts priced at a long-context tier say so in their name; a regional uplift is a
    part of its own (a percentage of the token parts).
    """
    catalog = catalog or load_catalog()
    cost = compute_cost(
        usage, model, at, batch=batch, service_tier=service_tier, overrides=overrides,
        catalog=catalog, regional=regional,
    )  # fmt: skip
    if cost.cost_usd is None:
        return cost, ()
    tier = parse_service_tier(service_tier)
    plan = resolve_plan(catalog, model, at, batch=batch, tier=tier, overrides=overrides)
    with localcontext(_CONTEXT):
        parts = [_priced(p) for p in _parts(usage, plan, regional=regional) if p.units]
        parts += _discounts(plan, sum((p.amount for p in parts), Decimal(0)))
        rounded = [_quantized(p) for p in parts]
        rounding = cost.cost_usd - sum((p.amount for p in rounded), Decimal(0))
        if rounding:
            rounded.append(PricedPart("rounding", Decimal(1), rounding, "total", rounding))
    return cost, tuple(rounded)


def _parts(usage: Usage, plan: PricePlan, *, regional: bool) -> list[Part]:
    entry = plan.entry
    if entry is not None and entry.unit is not Unit.TOKEN:
        return [unit_part(usage, entry)]
    card, long = plan.card_for(usage.prompt_tokens)
    assert card is not None  # noqa: S101 - type narrowing: a priced plan has a card
    tier = f" (long context, over {plan.long_threshold} input tokens)" if long else ""
    parts = [
        Part(name + tier, Decimal(count), rate, "1M tokens", MILLION)
        for name, count, rate in token_parts(usage, card)
    ]
    if regional and plan.uplift_pct:
        subtotal = sum((p.amount or Decimal(0) for p in parts), Decimal(0))
        uplift = Part(
            "regional processing uplift", subtotal, plan.uplift_pct, "% of tokens", _HUNDRED
        )
        parts.append(uplift)
    return parts + tool_parts(usage, plan.tools, card)


def _priced(part: Part) -> PricedPart:
    # a priced cost has every rate
    assert part.rate is not None and part.amount is not None  # noqa: S101 - type narrowing
    return PricedPart(part.name, part.units, part.rate, part.unit, part.amount)


def _discounts(plan: PricePlan, subtotal: Decimal) -> list[PricedPart]:
    """Each discount, applied in order, as a negative part of the running total."""
    out: list[PricedPart] = []
    for discount in plan.discounts if subtotal else ():
        assert discount.discount_pct is not None  # noqa: S101 - type narrowing
        cut = subtotal * discount.discount_pct / _HUNDRED
        name = f"discount {discount.ref}"
        out.append(PricedPart(name, subtotal, -discount.discount_pct, "% of subtotal", -cut))
        subtotal -= cut
    return out


def _quantized(part: PricedPart) -> PricedPart:
    amount = part.amount.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
    return PricedPart(part.name, part.units, part.rate, part.unit, amount)
