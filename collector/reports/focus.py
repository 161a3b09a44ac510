"""A FinOps FOCUS (1.1) cost-and-usage export of one month, from the hourly rollups.

Grain: one row per UTC day × project × model (the model that served). Not split by token
kind: spendscope records one exact cost per request, not per token kind, so splitting would
re-price and drift from the recorded money; token kinds ride in ``x_`` columns instead.

Column mapping (FOCUS name → value):
- BilledCost, EffectiveCost, ListCost, ContractedCost → the recorded cost (one cost per
  request is known; negotiated prices and discounts are already in it). Empty when every
  request of the row was unpriced — deliberately not 0, so the gap shows (FOCUS wants a
  number here; such rows carry ``x_CostStatus = unpriced`` and ``x_UnpricedRequests``).
  A row with unpriced requests but some priced spend shows that spend and
  ``x_CostStatus = partially_unpriced``.
- BillingCurrency "USD"; BillingPeriodStart/End the month; ChargePeriodStart/End the day
  (ISO 8601 UTC, end exclusive); ChargeCategory "Usage"; ChargeClass empty (no
  corrections); ChargeFrequency "Usage-Based"; ChargeDescription in words.
- ConsumedQuantity / PricingQuantity: tokens (prompt + completion); ConsumedUnit /
  PricingUnit "Tokens"; PricingCategory "Standard".
- ProviderName, PublisherName, InvoiceIssuerName: who served the model that month, from
  ``requests.provider`` ("OpenAI", "Anthropic", "Google", "Other"; a model served by
  several providers names them all, joined with " + "); ServiceName "<provider> API";
  ServiceCategory "AI and Machine Learning"; ServiceSubcategory "Generative AI".
- SkuId, ResourceName: the model; ResourceId "<project>/<model>"; ResourceType "Model";
  RegionId empty (global); SubAccountId / SubAccountName: the project's id and name;
  BillingAccountId / Name: given by the caller (default "openai" / "OpenAI").
- Tags: JSON ``{"project": name}``.
- x_Requests, x_InputTokens (uncached), x_CachedInputTokens, x_OutputTokens,
  x_ReasoningTokens, x_UnpricedRequests, x_CostStatus (priced | partially_unpriced |
  unpriced), x_CacheHits (requests answered by the response cache, $0 each) and
  x_CacheSavedCost (the cost of the answers they replayed: what the cache saved).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from collector.analytics import Filters
from collector.analytics._sql import REQUESTS, grouped, label, project_names, request_where
from collector.providers import DISPLAY_NAMES, OPENAI, OTHER
from collector.reports._month import parse_month

FOCUS_COLUMNS: tuple[str, ...] = (
    "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingAccountId",
    "BillingAccountName", "BillingCurrency", "BillingPeriodStart", "BillingPeriodEnd",
    "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargeFrequency", "ConsumedQuantity", "ConsumedUnit",
    "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "InvoiceIssuerName", "ServiceName", "ServiceCategory", "ServiceSubcategory", "SkuId",
    "ResourceId", "ResourceName", "ResourceType", "RegionId", "SubAccountId",
    "SubAccountName", "Tags", "x_Requests", "x_InputTokens", "x_CachedInputTokens",
    "x_OutputTokens", "x_ReasoningTokens", "x_UnpricedRequests", "x_CostStatus",
    "x_CacheHits", "x_CacheSavedCost",
)  # fmt: skip
_FIXED = {
    "BillingCurrency": "USD", "ChargeCategory": "Usage", "ChargeClass": "",
    "ChargeFrequency": "Usage-Based", "ConsumedUnit": "Tokens", "PricingCategory": "Standard",
    "PricingUnit": "Tokens", "ServiceCategory": "AI and Machine Learning",
    "ServiceSubcategory": "Generative AI",
    "ResourceType": "Model", "RegionId": "",
}  # fmt: skip


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def money_text(value: Decimal | None) -> str:
    """An exact decimal string ('' for unknown): never float, never a silent 0."""
    return "" if value is None else f"{value:f}"


def _cost_status(unpriced: int, cost: Decimal) -> str:
    """``unpriced`` when something was unpriced and nothing priced was spent."""
    if unpriced == 0:
        return "priced"
    return "unpriced" if cost == 0 else "partially_unpriced"


def focus_rows(
    engine: Engine, month: str, account: tuple[str, str] = ("openai", "OpenAI")
) -> list[dict[str, str]]:
    """The month's FOCUS rows as strings in ``FOCUS_COLUMNS`` order, by day, project, model."""
    start, end = parse_month(month)
    sums: tuple[str, ...] = ("requests", "prompt_tokens", "cached_tokens", "completion_tokens")
    sums += ("reasoning_tokens", "unpriced_requests", "cost_usd")
    f = Filters(start, end)
    with engine.connect() as conn:
        names = project_names(conn)
        providers = _model_providers(conn, f)
        cells = grouped(conn, f, ("project_id", "model"), sums, bucket="day")
        hits = grouped(
            conn, f, ("project_id", "model"), ("requests", "saved_usd"), bucket="day",
            where=lambda t: [t.c.outcome == "cache_hit"],
        )  # fmt: skip
    return [
        _focus_row((*k, *v, *hits.get(k, (0, Decimal(0)))), names, start, end, account)
        | _provider_columns(providers.get(label(k[2]), DISPLAY_NAMES[OPENAI]))
        for k, v in sorted(cells.items())
    ]


def _provider_columns(provider: str) -> dict[str, str]:
    return {"ProviderName": provider, "PublisherName": provider,
            "InvoiceIssuerName": provider, "ServiceName": f"{provider} API"}  # fmt: skip


def _model_providers(conn: Connection, f: Filters) -> dict[str, str]:
    """Each model's provider name(s) in the range, from ``requests``."""
    r = REQUESTS.c
    model = func.coalesce(r.model_served, r.model_requested, "")
    query = select(model, r.provider).where(*request_where(f)).distinct()
    found: dict[str, set[str]] = defaultdict(set)
    for name, provider in conn.execute(query):
        found[label(name)].add(DISPLAY_NAMES.get(provider, DISPLAY_NAMES[OTHER]))
    return {name: " + ".join(sorted(values)) for name, values in found.items()}


def _focus_row(
    r: Sequence[Any],
    names: dict[int, str],
    start: datetime,
    end: datetime,
    account: tuple[str, str],
) -> dict[str, str]:
    day, pid, model, requests, prompt, cached, completion, reasoning, unpriced, cost = r[:10]
    hits, saved = r[10:]
    project, model = label(pid, names), label(model)
    tokens = int(prompt) + int(completion)
    status = _cost_status(int(unpriced), cost if cost is not None else Decimal(0))
    cost_text = "" if status == "unpriced" else money_text(cost)
    row = dict(_FIXED)
    row |= dict.fromkeys(("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"), cost_text)
    row |= {
        "BillingAccountId": account[0], "BillingAccountName": account[1],
        "BillingPeriodStart": iso(start), "BillingPeriodEnd": iso(end),
        "ChargePeriodStart": iso(day), "ChargePeriodEnd": iso(day + timedelta(days=1)),
        "ChargeDescription": f"{model} tokens for project {project}",
        "ConsumedQuantity": str(tokens), "PricingQuantity": str(tokens), "SkuId": model,
        "ResourceId": f"{project}/{model}", "ResourceName": model,
        "SubAccountId": str(pid) if pid else "", "SubAccountName": project,
        "Tags": json.dumps({"project": project}, sort_keys=True),
        "x_Requests": str(requests), "x_InputTokens": str(int(prompt) - int(cached)),
        "x_CachedInputTokens": str(cached), "x_OutputTokens": str(completion),
        "x_ReasoningTokens": str(reasoning), "x_UnpricedRequests": str(unpriced),
        "x_CostStatus": status, "x_CacheHits": str(int(hits or 0)),
        "x_CacheSavedCost": money_text(saved if saved is not None else Decimal(0)),
    }  # fmt: skip
    return {name: row.get(name, "") for name in FOCUS_COLUMNS}
