"""The shipped catalog (and overrides) against a LiteLLM price table: what is missing here,
and which rates differ, each with both values. Pure: parsed prices in, a report out.

A model counts as missing when nothing here prices it explicitly: no entry, no override,
or only an assumed price (an unlisted dated snapshot priced as its undated name). Rates
are compared as charged: the standard rates once overrides apply, and the batch rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from collector.pricing._catalog import Catalog, load_catalog
from collector.pricing._litellm import ImportedPrice, ImportResult
from collector.pricing._plan import resolve_plan
from collector.pricing._types import PriceOverride, RateCard

# LiteLLM field (ImportedPrice) → (our mode, our RateCard field)
_COMPARED = (
    ("input", False, "input"),
    ("cached_input", False, "cached_input"),
    ("output", False, "output"),
    ("batch_input", True, "input"),
    ("batch_output", True, "output"),
)


@dataclass(frozen=True, slots=True)
class RateDiff:
    """One rate (USD per 1M tokens) that differs; ``ours`` None means we have none."""

    model: str
    field: str
    ours: Decimal | None
    theirs: Decimal
    price_id: str | None


@dataclass(frozen=True, slots=True)
class PriceDiff:
    missing: tuple[ImportedPrice, ...]
    differing: tuple[RateDiff, ...]
    matching: int  # models priced here whose compared rates all agree


def diff_prices(
    imported: ImportResult,
    at: datetime,
    *,
    catalog: Catalog | None = None,
    overrides: Sequence[PriceOverride] = (),
) -> PriceDiff:
    """Compare each imported OpenAI model's rates with what would be charged here at ``at``."""
    catalog = catalog or load_catalog()
    missing: list[ImportedPrice] = []
    differing: list[RateDiff] = []
    matching = 0
    for price in imported.prices:
        if _missing(catalog, price.model, at, overrides):
            missing.append(price)
            continue
        found = _differences(catalog, price, at, overrides)
        differing.extend(found)
        matching += not found
    return PriceDiff(tuple(missing), tuple(differing), matching)


def _missing(
    catalog: Catalog, model: str, at: datetime, overrides: Sequence[PriceOverride]
) -> bool:
    plan = resolve_plan(catalog, model, at, batch=False, tier=None, overrides=overrides)
    return plan.price_id is None or plan.assumed


def _differences(
    catalog: Catalog, price: ImportedPrice, at: datetime, overrides: Sequence[PriceOverride]
) -> list[RateDiff]:
    cards: dict[bool, tuple[RateCard | None, str | None]] = {}
    for batch in (False, True):
        plan = resolve_plan(catalog, price.model, at, batch=batch, tier=None, overrides=overrides)
        cards[batch] = (plan.card, plan.price_id)
    found = []
    for theirs_field, batch, ours_field in _COMPARED:
        theirs: Decimal | None = getattr(price, theirs_field)
        if theirs is None:
            continue
        card, price_id = cards[batch]
        ours: Decimal | None = getattr(card, ours_field) if card is not None else None
        if ours is None or ours != theirs:
            found.append(RateDiff(price.model, theirs_field, ours, theirs, price_id))
    return found
