"""Which monthly partitions a time range reads (partitioned PostgreSQL): for the query layer
and repricing, whose reads are bounded by ``started_at``.

``requests`` is partitioned by the month of its id (``collector.db.partitions``), not of
``started_at``, so a condition on ``started_at`` alone lets the planner skip no month: a walk
of the ``(cost_usd, id)`` index for the costliest rows of a range went through every month's
index, the months with no row in the range to the end (31 s over 30 days of 50 M requests,
most of it in a month before the range). :func:`months_condition` asks each month's
``started_at`` index whether it holds a row of the range (one probe each, through the index)
and names only those months by their id bounds, so the planner reads no other. Nothing is
assumed about how a row's id relates to its ``started_at``: a row ingested late, whose id is
newer than its time, keeps its month in the condition. When the default partition holds a
row of the range (an id of no month), nothing is pruned.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, and_, column, false, or_, select, table

from collector.db import partitions
from collector.db.models import Request

REQUESTS = Request.__table__


def months_condition(
    conn: Connection, start: datetime, end: datetime
) -> ColumnElement[bool] | None:
    """A condition on ``requests.id`` keeping only the months that hold rows started in
    [start, end); None where nothing can be pruned (SQLite, plain tables, the default
    partition holding such a row)."""
    if not partitions.is_partitioned(conn):
        return None
    months = partitions.months(conn)
    leaves: list[datetime | None] = [*months, None]
    probes = [
        select(column("started_at"))
        .select_from(table(partitions.leaf("requests", month), column("started_at")))
        .where(column("started_at") >= _naive(start), column("started_at") < _naive(end))
        .limit(1)
        .exists()
        .label(f"m{n}")
        for n, month in enumerate(leaves)
    ]
    found = conn.execute(select(*probes)).one()
    if found[-1]:
        return None  # the default partition: no id range names it
    spans: list[list[datetime]] = []  # runs of consecutive months: one id range each
    for month, has_rows in zip(months, found, strict=False):
        if not has_rows:
            continue
        if spans and spans[-1][1] == month:
            spans[-1][1] = partitions.add_months(month, 1)
        else:
            spans.append([month, partitions.add_months(month, 1)])
    r = REQUESTS.c
    kept = [and_(r.id >= partitions.bound(lo), r.id < partitions.bound(hi)) for lo, hi in spans]
    return or_(*kept) if kept else false()


def _naive(moment: datetime) -> datetime:
    """``started_at`` as stored: naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
