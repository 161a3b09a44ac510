"""What cached prompt tokens and the Batch API / flex tier saved, priced by the cost engine.

The saving is split in two steps, so nothing is counted twice:

- **cache**: cached prompt tokens at the full standard input price, minus the same tokens at
  the standard cached-input price. Read from the rollups (``cached_tokens`` per model).
- **batch** / **flex**: the rows' usage at standard prices (cached tokens at the standard
  cached rate), minus what they cost. Read from ``requests`` with the exact predicate of
  the partial index ``ix_requests_batch_flex_started``, which covers every column read here
  (migration 0006), so only that small index is visited.

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
from sqlalchemy import ColumnElement, Connection, Engine, Select, func, select, text, type_coerce
from sqlalchemy.orm import Session

from collector.analytics._frames import frame
from collector.analytics._model import Bucket, Filters, UnsupportedFilterError
from collector.analytics._sql import REQUESTS, ceil_hour, floor_hour, grouped, request_where
from collector.db.models import BATCH_FLEX_PREDICATE
from collector.db.types import UTCDateTime
from collector.pricing import Catalog, PriceOverride, compute_cost, load_catalog, load_overrides
from collector.usage import Usage

SAVINGS_COLUMNS = (
    "ts", "kind", "model", "requests", "tokens", "list_usd", "paid_usd", "saved_usd",
)  # fmt: skip
KINDS = ("cache", "batch", "flex")


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
    """Savings per bucket, kind (cache / batch / flex) and model, oldest first.

    Columns: ``ts`` (UTC bucket start), ``kind``, ``model``, ``requests`` (batch / flex
    rows; None for cache, which the rollups count in tokens), ``tokens`` (cached tokens for
    cache; prompt + completion for batch / flex), ``list_usd`` (what it would have cost
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


def _request_bucket(dialect: str, step: Bucket) -> ColumnElement[datetime]:
    """The UTC hour or day of ``started_at``."""
    started = REQUESTS.c.started_at
    if dialect == "sqlite":
        pattern = "%Y-%m-%d %H:00:00.000000" if step == "hour" else "%Y-%m-%d 00:00:00.000000"
        return type_coerce(func.strftime(pattern, started), UTCDateTime())
    return type_coerce(func.date_trunc(step, started), UTCDateTime())


# Only columns the partial index covers (completion_tokens already includes reasoning).
_TOKEN_SUMS = ("prompt_tokens", "cached_tokens", "completion_tokens")
_AUDIO_SUMS = ("audio_prompt_tokens", "audio_completion_tokens")


def tier_select(f: Filters, step: Bucket, dialect: str) -> Select[Any]:
    """Priced batch / flex rows of ``f`` summed per bucket, model and mode.

    Repeats ``BATCH_FLEX_PREDICATE`` verbatim (parenthesised) so the partial index
    ``ix_requests_batch_flex_started`` applies on SQLite and PostgreSQL.
    """
    r = REQUESTS.c
    when = _request_bucket(dialect, step).label("ts")
    model = func.coalesce(r.model_served, r.model_requested).label("model")
    return (
        select(
            when,
            model,
            r.batch,
            func.count(),
            *(func.sum(r[c]) for c in (*_TOKEN_SUMS, *_AUDIO_SUMS)),
            func.sum(r.cost_usd),
        )
        .where(text(f"({BATCH_FLEX_PREDICATE})"), *request_where(f), r.cost_usd.is_not(None))
        .group_by(when, model, r.batch)
    )


def _tier_rows(
    conn: Connection, f: Filters, step: Bucket, prices: _Prices
) -> Iterable[tuple[Any, ...]]:
    query = tier_select(f, step, conn.dialect.name)
    for ts, name, batch, count, *sums, paid in conn.execute(query):
        prompt, cached, completion, audio_in, audio_out = (int(s or 0) for s in sums)
        usage = Usage(
            prompt_tokens=prompt, cached_tokens=cached, completion_tokens=completion,
            audio_prompt_tokens=audio_in, audio_completion_tokens=audio_out,
        )  # fmt: skip
        full = prices.standard(usage, str(name), _at(ts, f)) if name else None
        kind = "batch" if batch else "flex"
        yield _row(ts, kind, str(name), int(count), prompt + completion, full, paid)


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
