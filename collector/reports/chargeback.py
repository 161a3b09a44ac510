"""The monthly chargeback: one row per group, exact money, reconciled totals.

Read from the hourly rollups (UTC calendar month). Grouping by tag reads the tag rollups,
where a request with n tags counts in n rows (so tag totals can exceed the month's spend,
and untagged requests are absent); those rollups carry no cached/reasoning tokens (left
empty) and no unpriced count, which is therefore counted from ``requests`` (exact, slower).
``cost_usd`` is the priced part; it is empty when a group has unpriced requests and no
priced spend at all (its cost is unknown, never $0); ``unpriced_requests`` always counts.
``cache_hits`` / ``cache_saved_usd``: requests answered by the response cache ($0 each) and
the cost of the answers they replayed (empty by tag: the tag rollups do not carry them).
Grouping by provider (openai, anthropic, google, other) reads ``requests``: exact, slower.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select

from collector.analytics import GROUP_BYS, Filters, GroupBy
from collector.analytics._providers import provider_sums
from collector.analytics._sql import (
    REQUESTS,
    TAGS,
    grouped,
    key_labels,
    label,
    project_names,
    time_range,
)
from collector.reports._month import parse_month

ZERO = Decimal("0E-10")


@dataclass(frozen=True, slots=True)
class ChargebackRow:
    """One group's month. ``cost_usd`` is None when unpriced and nothing priced was spent."""

    group: str
    requests: int
    prompt_tokens: int
    cached_tokens: int | None
    completion_tokens: int
    reasoning_tokens: int | None
    cost_usd: Decimal | None
    unpriced_requests: int
    cache_hits: int | None = 0
    cache_saved_usd: Decimal | None = ZERO


@dataclass(frozen=True, slots=True)
class Chargeback:
    month: str
    group_by: GroupBy
    start: datetime
    end: datetime
    rows: tuple[ChargebackRow, ...]

    @property
    def totals(self) -> ChargebackRow:
        """The sum of the rows, so totals reconcile with them exactly by construction."""
        return sum_rows(self.rows)


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _add_money(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a + b


def sum_rows(rows: Sequence[ChargebackRow]) -> ChargebackRow:
    """Column sums; the total cost is empty only when every row's cost is."""
    total = ChargebackRow("(total)", 0, 0, 0, 0, 0, None, 0)
    for r in rows:
        cost = r.cost_usd if total.cost_usd is None else total.cost_usd + (r.cost_usd or ZERO)
        total = ChargebackRow(
            "(total)",
            total.requests + r.requests,
            total.prompt_tokens + r.prompt_tokens,
            _add(total.cached_tokens, r.cached_tokens),
            total.completion_tokens + r.completion_tokens,
            _add(total.reasoning_tokens, r.reasoning_tokens),
            cost,
            total.unpriced_requests + r.unpriced_requests,
            _add(total.cache_hits, r.cache_hits),
            _add_money(total.cache_saved_usd, r.cache_saved_usd),
        )
    return total


def _n(value: Any) -> int:
    return int(value or 0)


def _row(group: str, values: Sequence[Any]) -> ChargebackRow:
    """A group's sums; ``cached``/``reasoning`` None means "not tracked" (tag rollups)."""
    requests, prompt, cached, completion, reasoning, cost, unpriced = values
    spent: Decimal = cost if cost is not None else ZERO
    unknown = _n(unpriced) > 0 and spent == 0  # nothing priced: unknown, not $0
    return ChargebackRow(
        group=group,
        requests=_n(requests),
        prompt_tokens=_n(prompt),
        cached_tokens=None if cached is None else int(cached),
        completion_tokens=_n(completion),
        reasoning_tokens=None if reasoning is None else int(reasoning),
        cost_usd=None if unknown else spent,
        unpriced_requests=_n(unpriced),
    )


_COLUMN = {"model": "model", "project": "project_id", "key": "api_key_id", "user": "end_user"}


def _rollup_rows(conn: Connection, f: Filters, by: GroupBy) -> list[ChargebackRow]:
    sums: tuple[str, ...] = ("requests", "prompt_tokens", "cached_tokens", "completion_tokens")
    sums += ("reasoning_tokens", "cost_usd", "unpriced_requests")
    names = project_names(conn) if by == "project" else key_labels(conn) if by == "key" else None
    cells = sorted(grouped(conn, f, (_COLUMN[by],), sums).items())
    hits = grouped(
        conn, f, (_COLUMN[by],), ("requests", "saved_usd"),
        where=lambda t: [t.c.outcome == "cache_hit"],
    )  # fmt: skip
    rows = []
    for key, values in cells:
        n, saved = hits.get(key, (0, ZERO))
        row = _row(label(key[0], names), values)
        rows.append(replace(row, cache_hits=_n(n), cache_saved_usd=saved or ZERO))
    return rows


def _unpriced_per_tag(conn: Connection, f: Filters) -> dict[str, int]:
    r = REQUESTS.c
    query = select(r.tags).where(time_range(r.started_at, f.start, f.end))
    counts: dict[str, int] = defaultdict(int)
    for (tags,) in conn.execute(query.where(r.cost_source == "unpriced")):
        for key, value in (tags or {}).items():
            counts[f"{key}={value}"] += 1
    return counts


def _tag_rows(conn: Connection, f: Filters) -> list[ChargebackRow]:
    sums = ("requests", "prompt_tokens", "completion_tokens", "cost_usd")
    cells = sorted(grouped(conn, f, ("tag",), sums, table=TAGS).items())
    unpriced = _unpriced_per_tag(conn, f)
    return [
        replace(
            _row(tag, (n, prompt, None, completion, None, cost, unpriced.get(tag, 0))),
            cache_hits=None,
            cache_saved_usd=None,
        )
        for (tag,), (n, prompt, completion, cost) in cells
    ]


def _provider_rows(conn: Connection, f: Filters) -> list[ChargebackRow]:
    """By provider, from ``requests`` (the rollups are not split by provider)."""
    rows = []
    for (provider,), values in sorted(provider_sums(conn, f).items()):
        cost, n, prompt, completion, cached, reasoning, unpriced, hits, saved = values
        row = _row(provider, (n, prompt, cached, completion, reasoning, cost, unpriced))
        rows.append(replace(row, cache_hits=_n(hits), cache_saved_usd=saved or ZERO))
    return rows


def chargeback(engine: Engine, month: str, group_by: str) -> Chargeback:
    """The chargeback of ``month`` (YYYY-MM, UTC) by ``group_by``; ValueError on bad input."""
    start, end = parse_month(month)
    if group_by not in GROUP_BYS:
        raise ValueError(f"unknown group-by {group_by!r}; expected one of {', '.join(GROUP_BYS)}")
    by: GroupBy = group_by
    f = Filters(start, end)
    with engine.connect() as conn:
        if by == "provider":
            rows = _provider_rows(conn, f)
        else:
            rows = _tag_rows(conn, f) if by == "tag" else _rollup_rows(conn, f, by)
    return Chargeback(month.strip(), by, start, end, tuple(rows))
