"""Pricing: the shipped OpenAI price catalog, price overrides, and the exact cost engine.

Importing this package is cheap: the catalog is parsed on first use and cached.
"""

from collector.pricing._api_usage import (
    ENDPOINTS,
    TEXT_ONLY_NOTE,
    guess_endpoint,
    modality_note,
    usage_from_api,
)
from collector.pricing._breakdown import PricedPart, cost_breakdown
from collector.pricing._catalog import SCALAR_PRICES, Catalog, load_catalog, parse_catalog
from collector.pricing._containers import container_cost
from collector.pricing._diff import PriceDiff, RateDiff, diff_prices
from collector.pricing._engine import (
    applicable_overrides,
    as_reported,
    compute_cost,
    parse_service_tier,
    resolve_price,
)
from collector.pricing._free import (
    BACKGROUND_NOTE,
    DEFERRED_NOTES,
    RETRIEVE_NOTE,
    background_cost,
    free_endpoint_cost,
    job_endpoint_cost,
)
from collector.pricing._litellm import ImportedPrice, ImportResult, parse_litellm_prices
from collector.pricing._types import (
    LongContext,
    PriceEntry,
    PriceOverride,
    RateCard,
    ServiceTier,
    TierRates,
    Unit,
    mode_name,
)
from collector.pricing.overrides import add_override, load_overrides, stored_overrides

__all__ = [
    "BACKGROUND_NOTE",
    "DEFERRED_NOTES",
    "ENDPOINTS",
    "RETRIEVE_NOTE",
    "SCALAR_PRICES",
    "TEXT_ONLY_NOTE",
    "Catalog",
    "ImportResult",
    "ImportedPrice",
    "LongContext",
    "PriceDiff",
    "PriceEntry",
    "PriceOverride",
    "PricedPart",
    "RateCard",
    "RateDiff",
    "ServiceTier",
    "TierRates",
    "Unit",
    "add_override",
    "applicable_overrides",
    "as_reported",
    "background_cost",
    "compute_cost",
    "container_cost",
    "cost_breakdown",
    "diff_prices",
    "free_endpoint_cost",
    "guess_endpoint",
    "job_endpoint_cost",
    "load_catalog",
    "load_overrides",
    "modality_note",
    "mode_name",
    "parse_catalog",
    "parse_litellm_prices",
    "parse_service_tier",
    "resolve_price",
    "stored_overrides",
    "usage_from_api",
]
