"""Reconciliation queries: OpenAI's stored bill and what spendscope metered, per UTC day.

The metered side reads the daily project rollups (per UTC day × model), like every other
aggregate. Only when lines are grouped by OpenAI key or project and the gateway has several
upstream keys does it read ``requests`` (one UTC day at a time over its ``started_at``
index), grouped by upstream: the upstream names the OpenAI key that carried the traffic, and
the rollups do not keep it. Blocked requests never reached OpenAI and are left out; unpriced
ones count their tokens but no money, and are named in the explanation. ``requests`` on the
metered side counts successful requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, case, func, select

from collector.db.bills import BillDay, BillLine
from collector.db.models import Request, daily_project_rollups
from collector.reconcile._compare import days_of, reconcile
from collector.reconcile._types import (
    ZERO,
    BillItem,
    GroupBy,
    MeteredLine,
    Ownership,
    Reconciliation,
    Tokens,
)
from collector.usage import CostSource, Outcome

MAX_DAYS = 366
_ITEM_FIELDS = tuple(f for f in BillItem.__dataclass_fields__ if f != "day")


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def metered_lines(
    engine: Engine, start: date, end: date, *, by_upstream: bool = False, upstream: str = "default"
) -> list[MeteredLine]:
    """What spendscope recorded per UTC day × model, ``start``..``end``: from the daily
    rollups (all of it booked to ``upstream``), or per upstream from ``requests``."""
    if by_upstream:
        return _from_requests(engine, start, end)
    r = daily_project_rollups.c
    ok = func.sum(case((r.outcome == Outcome.SUCCESS.value, r.requests), else_=0))
    stmt = (
        select(r.day, r.model, func.sum(r.cost_usd), func.sum(r.prompt_tokens),
               func.sum(r.cached_tokens), func.sum(r.completion_tokens), ok,
               func.sum(r.unpriced_requests), func.sum(r.estimated_requests))
        .where(r.day >= day_start(start), r.day < day_start(end + timedelta(days=1)),
               r.outcome != Outcome.BLOCKED.value)
        .group_by(r.day, r.model)
    )  # fmt: skip
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [_line(when.date(), m, upstream, rest) for when, m, *rest in rows]


def _line(day: date, model: object, upstream: object, sums: Sequence[Any]) -> MeteredLine:
    cost, p, c, o, n, u, e = sums
    tokens = Tokens(int(p or 0), int(c or 0), int(o or 0))
    usd = ZERO if cost is None else cost
    counts = int(n or 0), int(u or 0), int(e or 0)
    return MeteredLine(day, str(model), str(upstream), usd, tokens, *counts)


def _from_requests(engine: Engine, start: date, end: date) -> list[MeteredLine]:
    r = Request
    model = func.coalesce(r.model_served, r.model_requested, "")
    upstream = func.coalesce(r.upstream, "default")
    ok = case((r.outcome == Outcome.SUCCESS.value, 1), else_=0)
    unpriced = case((r.cost_source == CostSource.UNPRICED.value, 1), else_=0)
    estimated = case((r.cost_source == CostSource.ESTIMATED.value, 1), else_=0)
    cols = (
        model, upstream, func.sum(r.cost_usd), func.sum(r.prompt_tokens),
        func.sum(r.cached_tokens), func.sum(r.completion_tokens), func.sum(ok),
        func.sum(unpriced), func.sum(estimated),
    )  # fmt: skip
    out: list[MeteredLine] = []
    with engine.connect() as conn:
        for day in days_of(start, end):
            lo = day_start(day)
            where = (r.started_at >= lo, r.started_at < lo + timedelta(days=1),
                     r.outcome != Outcome.BLOCKED.value)  # fmt: skip
            rows = conn.execute(select(*cols).where(*where).group_by(model, upstream)).all()
            out += [_line(day, m, up, rest) for m, up, *rest in rows]
    return out


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
