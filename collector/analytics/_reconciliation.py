"""Reconciliation queries: OpenAI's stored bill and what spendscope metered, per UTC day.

The metered side reads the daily rollups, like every other aggregate: the project rollups
(per UTC day × model), or, when lines are grouped by OpenAI key or project and the gateway
has several upstream keys, the upstream rollups (per UTC day × upstream × model; the upstream
names the OpenAI key that carried the traffic). Neither reads a raw row, so a reconciliation
answers at any depth and after retention removed the month's requests. Blocked requests
never reached OpenAI and are left out; unpriced ones count their tokens but no money, and
are named in the explanation. ``requests`` on the metered side counts successful requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, case, func, select

from collector.db.bills import BillDay, BillLine
from collector.db.models import daily_project_rollups, daily_upstream_rollups
from collector.reconcile._compare import reconcile
from collector.reconcile._types import (
    ZERO,
    BillItem,
    GroupBy,
    MeteredLine,
    Ownership,
    Reconciliation,
    Tokens,
)
from collector.usage import Outcome

MAX_DAYS = 366
_ITEM_FIELDS = tuple(f for f in BillItem.__dataclass_fields__ if f != "day")


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def metered_lines(
    engine: Engine, start: date, end: date, *, by_upstream: bool = False, upstream: str = "default"
) -> list[MeteredLine]:
    """What spendscope recorded per UTC day × model, ``start``..``end``: from the daily
    project rollups (all of it booked to ``upstream``), or per upstream from the upstream
    rollups."""
    r = daily_upstream_rollups.c if by_upstream else daily_project_rollups.c
    keys = (r.day, r.model, r.upstream) if by_upstream else (r.day, r.model)
    ok = func.sum(case((r.outcome == Outcome.SUCCESS.value, r.requests), else_=0))
    stmt = (
        select(*keys, func.sum(r.cost_usd), func.sum(r.prompt_tokens), func.sum(r.cached_tokens),
               func.sum(r.completion_tokens), ok, func.sum(r.unpriced_requests),
               func.sum(r.estimated_requests))
        .where(r.day >= day_start(start), r.day < day_start(end + timedelta(days=1)),
               r.outcome != Outcome.BLOCKED.value)
        .group_by(*keys)
    )  # fmt: skip
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    if by_upstream:
        return [_line(when.date(), m, up, rest) for when, m, up, *rest in rows]
    return [_line(when.date(), m, upstream, rest) for when, m, *rest in rows]


def _line(day: date, model: object, upstream: object, sums: Sequence[Any]) -> MeteredLine:
    cost, p, c, o, n, u, e = sums
    tokens = Tokens(int(p or 0), int(c or 0), int(o or 0))
    usd = ZERO if cost is None else cost
    counts = int(n or 0), int(u or 0), int(e or 0)
    return MeteredLine(day, str(model), str(upstream), usd, tokens, *counts)


def stored_bill(engine: Engine, start: date, end: date) -> tuple[list[BillItem], set[date]]:
    """The stored bill lines of ``start``..``end`` and the days that were fetched."""
    b = BillLine
    with engine.connect() as conn:
        rows = conn.execute(
            select(b.day, *(getattr(b, f) for f in _ITEM_FIELDS))
            .where(b.day >= start, b.day <= end)
            .order_by(b.day, b.id)
        ).all()
        fetched = set(
            conn.scalars(select(BillDay.day).where(BillDay.day >= start, BillDay.day <= end))
        )
    items = [BillItem(row[0], **dict(zip(_ITEM_FIELDS, row[1:], strict=True))) for row in rows]
    return items, fetched


def reconciliation(
    engine: Engine,
    start: date,
    end: date,
    owners: Ownership,
    group_by: GroupBy = GroupBy.MODEL,
) -> Reconciliation:
    """The stored bill of ``start``..``end`` against the metered record (see ``_compare``)."""
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValueError(f"a reconciliation covers at most {MAX_DAYS} days")
    items, fetched = stored_bill(engine, start, end)
    keyed = group_by is not GroupBy.MODEL and len(owners.key_ids) > 1
    only = next(iter(owners.key_ids), "default") if len(owners.key_ids) == 1 else "default"
    metered = metered_lines(engine, start, end, by_upstream=keyed, upstream=only)
    return reconcile(start, end, items, metered, owners, group_by, fetched)
