"""What cached prompt tokens, the Batch API / flex tier and the response cache saved.

The saving is split in two steps, so nothing is counted twice:

- **cache**: cached prompt tokens at the full standard input price, minus the same tokens at
  the standard cached-input price. Read from the rollups (``cached_tokens`` per model).
- **batch** / **flex**: the priced rows' usage at standard prices (cached tokens at the
  standard cached rate), minus what they cost. Read from the tier rollups for the whole
  hours of the range (``daily_tier_rollups`` for whole UTC days) and from ``requests`` for
  the partial hours at its edges, so the sums are exactly those of the raw rows.
- **response_cache**: requests answered from the gateway's response cache (outcome
  ``cache_hit``, $0): each saved the recorded cost of the answer it replayed
  (``saved_usd``, summed in the request rollups). Not repriced: the saving is what the
  original request was billed.

Prices are the dated catalog entries and the price overrides in force (via
``compute_cost``), resolved at the start of each bucket (a UTC day or hour). Catalog
prices change at 00:00 UTC; if any price or override changes inside a day of the range,
the figures are computed per hour instead, so every hour is priced as it was billed.
Models without a price give ``None`` (not counted, never a silent $0).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    case,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from collector.analytics._frames import frame
from collector.analytics._model import Bucket, Filters, UnsupportedFilterError
from collector.analytics._sql import (
    REQUESTS,
    TIERS,
    Sums,
    ceil_hour,
    floor_hour,
    grouped,
    label,
    request_bucket,
    request_where,
    whole_hours,
)
from collector.db.models import TIER_COUNTERS
from collector.pricing import Catalog, PriceOverride, compute_cost, load_catalog, load_overrides
from collector.usage import Usage

SAVINGS_COLUMNS = (
    "ts", "kind", "model", "requests", "tokens", "list_usd", "paid_usd", "saved_usd",
)  # fmt: skip
KINDS = ("cache", "batch", "flex", "response_cache")
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class _Prices:
    catalog: Catalog
    overrides: tuple[PriceOverride, ...]

    def standard(self, usage: Usage, model: str, at: datetime) -> Decimal | None:
        """``usage`` at the standard tier's rates in force at ``at`` (None: no price)."""
        cost = compute_cost(usage, model, at, overrides=self.overrides, catalog=self.catalog)
        return cost.cost_usd


def savings(
    engine: Engine,
    f: Filters,
    bucket: Bucket = "day",
    *,
    overrides: Sequence[PriceOverride] | None = None,
    catalog: Catalog | None = None,
) -> pd.DataFrame:
    """Savings per bucket, kind (cache / batch / flex / response_cache) and model, oldest first.

    Columns: ``ts`` (UTC bucket start), ``kind``, ``model``, ``requests`` (batch / flex
    rows, cache hits for response_cache; None for cache, which the rollups count in
    tokens), ``tokens`` (cached tokens for cache; prompt + completion for batch / flex; 0
    for response_cache, whose hits consumed none), ``list_usd`` (what it would have cost
    without the discount), ``paid_usd`` and ``saved_usd`` (Decimal; None when the model
    has no price). ``overrides`` default to those stored in ``price_overrides``. A tag
    filter raises ``UnsupportedFilterError``: the tag rollups carry no cached tokens.
    """
    if f.tags:
        raise UnsupportedFilterError("savings cannot be filtered by tag (no cached tokens by tag)")
    prices = _Prices(catalog or load_catalog(), _overrides(engine, overrides))
    step: Bucket = "hour" if bucket == "hour" or _changes_inside_a_day(prices, f) else "day"
    with engine.connect() as conn:
        rows = [*_cache_rows(conn, f, step, prices), *_tier_rows(conn, f, step, prices)]
        rows += _response_cache_rows(conn, f, step)
    if step != bucket:
        rows = _rebucket(rows)
    rows.sort(key=lambda r: (r[0], KINDS.index(r[1]), r[2]))
    df = frame(rows, SAVINGS_COLUMNS)
    df["requests"] = df["requests"].astype("Int64")  # None (cache rows) stays <NA>
    return df


def _overrides(engine: Engine, given: Sequence[PriceOverride] | None) -> tuple[PriceOverride, ...]:
    if given is not None:
        return tuple(given)
    with Session(engine) as session:
        return tuple(load_overrides(session))


def _changes_inside_a_day(prices: _Prices, f: Filters) -> bool:
    """True when a price or override starts or ends at a time other than 00:00 UTC in range."""
    moments: list[datetime] = [e.effective_from for e in prices.catalog.entries]
    for o in prices.overrides:
        moments += [o.effective_from] + ([o.effective_to] if o.effective_to else [])
    lo, hi = floor_hour(f.start), ceil_hour(f.end)
    return any(
        lo < m < hi and m != m.replace(hour=0, minute=0, second=0, microsecond=0) for m in moments
    )


def _at(ts: datetime, f: Filters) -> datetime:
    """The instant a bucket is priced at: its start, or the range's first hour if later."""
    return max(ts, floor_hour(f.start))


def _cache_rows(
    conn: Connection, f: Filters, step: Bucket, prices: _Prices
) -> Iterable[tuple[Any, ...]]:
    sums = grouped(conn, f, ("model",), ("cached_tokens",), bucket=step)
    for (ts, model), (cached,) in sums.items():
        n = int(cached or 0)
        if n == 0 or not model:
            continue
        at = _at(ts, f)
        full = prices.standard(Usage(prompt_tokens=n), model, at)
        paid = prices.standard(Usage(prompt_tokens=n, cached_tokens=n), model, at)
        yield _row(ts, "cache", model, None, n, full, paid)


def _response_cache_rows(conn: Connection, f: Filters, step: Bucket) -> list[tuple[Any, ...]]:
    """Cache hits per bucket and model: $0 paid, the replayed answers' cost saved."""
    hits = grouped(
        conn, f, ("model",), ("requests", "saved_usd"), bucket=step,
        where=lambda t: [t.c.outcome == "cache_hit"],
    )  # fmt: skip
    return [
        _row(ts, "response_cache", label(model), int(n), 0, saved or _ZERO, _ZERO)
        for (ts, model), (n, saved) in hits.items()
        if n
    ]


def _row(
    ts: datetime,
    kind: str,
    model: str,
    requests: int | None,
    tokens: int,
    full: Decimal | None,
    paid: Decimal | None,
) -> tuple[Any, ...]:
    saved = None if full is None or paid is None else full - paid
    return (ts, kind, model, requests, tokens, full, paid, saved)


# The tier rollups' counters of priced rows, in the order _tier_rows reads them.
_TIER_SUMS = (*TIER_COUNTERS, "cost_usd")


def tier_sums(conn: Connection, f: Filters, step: Bucket) -> Sums:
    """(bucket, model, tier) → priced batch / flex rows' count, token sums and cost.

    Whole hours from the tier rollups (whole days from their daily copy), the partial
    hours at the range's edges from ``requests``; rows without a cost are not counted.
    """
    whole, edges = whole_hours(f)
    out: Sums = {}
    if whole is not None:
        part = Filters(*whole, f.project_ids, f.api_key_ids, f.end_users, f.models)
        out = grouped(conn, part, ("model", "tier"), _TIER_SUMS, table=TIERS, bucket=step)
    for start, end in edges:
        edge = Filters(start, end, f.project_ids, f.api_key_ids, f.end_users, f.models)
        for row in conn.execute(raw_tier_select(edge, step, conn.dialect.name)):
            key, values = tuple(row[:3]), list(row[3:])
            known = out.get(key)
            out[key] = (
                values if known is None else [a + b for a, b in zip(known, values, strict=True)]
            )
    return out


def raw_tier_select(f: Filters, step: Bucket, dialect: str) -> Select[Any]:
    """Priced batch / flex rows of ``f`` in ``requests``, summed as the tier rollups are."""
    r = REQUESTS.c
    when = request_bucket(dialect, step).label("ts")
    model = func.coalesce(r.model_served, r.model_requested, "").label("model")
    tier = case((r.batch, "batch"), else_="flex").label("tier")
    tokens = (func.coalesce(func.sum(r[c]), 0) for c in TIER_COUNTERS[1:])
    return (
        select(when, model, tier, func.count(), *tokens, func.sum(r.cost_usd))
        .where(or_(r.batch, r.service_tier == "flex"), r.cost_usd.is_not(None))
        .where(*request_where(f))
        .group_by(when, model, tier)
    )


def _tier_rows(
    conn: Connection, f: Filters, step: Bucket, prices: _Prices
) -> Iterable[tuple[Any, ...]]:
    for (ts, name, tier), (count, *sums, paid) in tier_sums(conn, f, step).items():
        if not count:  # only unpriced rows: nothing to compare
            continue
        prompt, cached, completion, audio_in, audio_out = (int(s or 0) for s in sums)
        usage = Usage(
            prompt_tokens=prompt, cached_tokens=cached, completion_tokens=completion,
            audio_prompt_tokens=audio_in, audio_completion_tokens=audio_out,
        )  # fmt: skip
        full = prices.standard(usage, str(name), _at(ts, f)) if name else None
        yield _row(ts, str(tier), label(name), int(count), prompt + completion, full, paid)


def _rebucket(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Hourly rows summed into UTC days (money stays exact; None stays None)."""
    out: dict[tuple[Any, ...], list[Any]] = {}
    for ts, kind, model, requests, tokens, full, paid, saved in rows:
        key = (ts.replace(hour=0), kind, model)
        known = out.get(key)
        values = [requests, tokens, full, paid, saved]
        out[key] = (
            values if known is None else [_add(a, b) for a, b in zip(known, values, strict=True)]
        )
    return [(*key, *values) for key, values in out.items()]


def _add(a: Any, b: Any) -> Any:
    return None if a is None or b is None else a + b
