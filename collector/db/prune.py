"""Which monthly partitions a time range reads (partitioned PostgreSQL): for the query layer
and repricing, whose reads are bounded by ``started_at``.

``requests`` is partitioned by the month of its id (``collector.db.partitions``), not of
``started_at``, so a condition on ``started_at`` alone lets the planner skip no month: a walk
of the ``(cost_usd, id)`` index for the costliest rows of a range went through every month's
index, the months with no row in the range to the end (31 s over 30 days of 50 M requests,
most of it in a month before the range). :func:`months_condition` asks each month's
``started_at`` index whether it holds a row of the range (one probe each, through the index)
and leaves out the months that hold none by their id bounds, so the planner reads no such
month. Nothing is assumed about how a row's id relates to its ``started_at``: a row ingested
late, whose id is newer than its time, keeps its month in the read. What no probe asked of
(the default partition, a month created meanwhile) is always read.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, and_, or_, text
from sqlalchemy.exc import DBAPIError

from collector.db import partitions
from collector.db.models import Request

REQUESTS = Request.__table__
_PROBE_WAIT = "100ms"  # how long a probe waits for a month's lock (a cut holds it for seconds)


def months_condition(
    conn: Connection, start: datetime, end: datetime
) -> ColumnElement[bool] | None:
    """A condition on ``requests.id`` leaving out the months that hold no row started in
    [start, end); None where nothing can be left out (SQLite, plain tables, every month
    holding such a row, or a month list gone stale).

    Each listed month's partition is probed by name, through its ``started_at`` index (a
    probe through the parent with the month's id bounds let the planner walk the month's
    key when its statistics were missing, as they are after a retention cut: 89 ms). The
    months are left out, never named in: a month created after the list was read (it takes
    its rows from the default partition), the default partition itself, and any partition
    of another name are read as before. A listed month dropped or being cut meanwhile fails
    its probe (gone, or locked past a short wait): then nothing is left out. The probes run
    in a savepoint, so such a failure leaves the caller's transaction as it was.
    """
    if not partitions.is_partitioned(conn):
        return None
    months = partitions.months(conn)
    if not months:
        return None
    lo, hi = _literal(_naive(start)), _literal(_naive(end))
    probes = ", ".join(
        f"EXISTS (SELECT 1 FROM {partitions.leaf('requests', month)} "  # noqa: S608 - our names
        f"WHERE started_at >= {lo} AND started_at < {hi})"
        for month in months
    )
    wait = "SELECT set_config('lock_timeout', :value, true)"
    try:
        with conn.begin_nested():  # a failed probe rolls back to here, its wait setting too
            before = conn.execute(text("SELECT current_setting('lock_timeout')")).scalar_one()
            conn.execute(text(wait), {"value": _PROBE_WAIT})
            found = conn.execute(text(f"SELECT {probes}")).one()
            conn.execute(text(wait), {"value": before})  # the caller's own, for its statements
    except DBAPIError:
        return None  # a month went or is being cut: read them all, this once
    spans: list[list[datetime]] = []  # runs of consecutive empty months: one id range each
    for month, has_rows in zip(months, found, strict=True):
        if has_rows:
            continue
        if spans and spans[-1][1] == month:
            spans[-1][1] = partitions.add_months(month, 1)
        else:
            spans.append([month, partitions.add_months(month, 1)])
    if not spans:
        return None
    r = REQUESTS.c
    return and_(
        *(
            or_(r.id < partitions.bound(first), r.id >= partitions.bound(after))
            for first, after in spans
        )
    )


def _literal(moment: datetime) -> str:
    """A naive UTC instant as an SQL timestamp literal (it is ours: no quoting to escape)."""
    return f"TIMESTAMP '{moment.isoformat(sep=' ')}'"


def _naive(moment: datetime) -> datetime:
    """``started_at`` as stored: naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
