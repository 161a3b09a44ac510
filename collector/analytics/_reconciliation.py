"""Reconciliation queries: OpenAI's stored bill and what spendscope metered, per UTC day.

The metered side reads ``requests`` one UTC day at a time over its ``started_at`` index
(grouped by served model and upstream: the upstream names the OpenAI key that carried the
traffic, which the rollups do not keep). Blocked requests never reached OpenAI and are left
out; unpriced ones count their tokens but no money, and are named in the explanation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine, case, func, or_, select

from collector.db.bills import BillDay, BillLine
from collector.db.models import Request
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


def metered_lines(engine: Engine, start: date, end: date) -> list[MeteredLine]:
    """What spendscope recorded per UTC day × served model × upstream, ``start``..``end``."""
    r = Request
    model = func.coalesce(r.model_served, r.model_requested, "")
    upstream = func.coalesce(r.upstream, "default")
    billable = or_(r.prompt_tokens > 0, r.completion_tokens > 0, r.images > 0,
                   r.characters > 0, r.audio_seconds > 0)  # fmt: skip
    unpriced = case((r.cost_source == CostSource.UNPRICED.value, 1), else_=0)
    cols = (
        model, upstream, func.sum(r.cost_usd), func.sum(r.prompt_tokens),
        func.sum(r.cached_tokens), func.sum(r.completion_tokens),
        func.sum(case((billable, 1), else_=0)), func.sum(unpriced),
    )  # fmt: skip
    out: list[MeteredLine] = []
    with engine.connect() as conn:
        for day in days_of(start, end):
            lo = day_start(day)
            where = (r.started_at >= lo, r.started_at < lo + timedelta(days=1),
                     r.outcome != Outcome.BLOCKED.value)  # fmt: skip
            rows = conn.execute(select(*cols).where(*where).group_by(model, upstream)).all()
            for m, up, cost, p, c, o, n, u in rows:
                tokens = Tokens(int(p or 0), int(c or 0), int(o or 0))
                usd = ZERO if cost is None else cost
                out.append(MeteredLine(day, str(m), str(up), usd, tokens, int(n or 0), int(u or 0)))
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
    metered = metered_lines(engine, start, end)
    return reconcile(start, end, items, metered, owners, group_by, fetched)
