"""Spend by provider (openai, anthropic, google, other): who served the money.

The rollups are not split by provider, so these sums read ``requests`` over the exact range
(its ``started_at`` index bounds the scan). A request counts under the provider that
answered it; one that nobody answered, under the provider tried last (``$0`` spent).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, case, func, select

from collector.analytics._model import Bucket, Filters
from collector.analytics._sql import REQUESTS, request_bucket, request_where

# The sums of one provider (and bucket), in this order.
PROVIDER_SUMS = (
    "cost_usd", "requests", "prompt_tokens", "completion_tokens", "cached_tokens",
    "reasoning_tokens", "unpriced_requests", "cache_hits", "saved_usd",
)  # fmt: skip


def provider_sums(
    conn: Connection, f: Filters, bucket: Bucket | None = None
) -> dict[tuple[Any, ...], list[Any]]:
    """``(provider,)`` — or ``(bucket start, provider)`` — → ``PROVIDER_SUMS``.

    ``cost_usd`` is the priced part (None when nothing was priced); ``saved_usd`` what the
    response cache's hits saved.
    """
    r = REQUESTS.c
    keys: list[Any] = [r.provider]
    if bucket is not None:
        keys.insert(0, request_bucket(conn.dialect.name, bucket).label("ts"))
    tokens = (func.coalesce(func.sum(r[c]), 0) for c in PROVIDER_SUMS[2:6])
    query = (
        select(
            *keys,
            func.sum(r.cost_usd),
            func.count(),
            *tokens,
            func.sum(case((r.cost_source == "unpriced", 1), else_=0)),
            func.sum(case((r.outcome == "cache_hit", 1), else_=0)),
            func.sum(r.saved_usd),
        )
        .where(*request_where(f))
        .group_by(*keys)
    )
    width = len(keys)
    return {tuple(row[:width]): list(row[width:]) for row in conn.execute(query)}
