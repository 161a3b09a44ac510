"""A page number typed into the requests table by time, read without walking the rows before it.

``OFFSET n`` makes the database walk and drop n rows: page 150,000 of a month of 16.5 M
requests read 7.5 M rows (7–10 s). The hourly rollups count the requests of every hour for
the same filters (project, key, end user, model, outcome: the rollups' key columns), so the
hour holding row n is found from them (per day first, then per hour of that day); the page
is then an offset within that hour (a few thousand rows at most). Rows past the middle are
counted from the other end of the range, the page walked backwards from there.

The answer is the one OFFSET gives as long as the rollups count exactly the raw rows of the
hours counted — the recorder writes both in one transaction. Retention removes raw rows and
keeps the rollups, so hours before ``rows_from`` (the retention's cutoff) are never counted
over: such a jump is read by offset. A search or tag filter has no rollup count, nor does
a sort by anything but time: those are read by offset too (:func:`requests_page`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, func, select

from collector.analytics._model import Bucket, Filters
from collector.analytics._sql import REQUESTS, ceil_hour, floor_hour, grouped, request_where

_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


def _raw(conn: Connection, f: Filters, outcome: str | None) -> int:
    conds = request_where(f)
    if outcome:
        conds.append(REQUESTS.c.outcome == outcome)
    return int(conn.scalar(select(func.count()).select_from(REQUESTS).where(*conds)) or 0)


def _counts(
    conn: Connection, f: Filters, outcome: str | None, bucket: Bucket
) -> dict[datetime, int]:
    """Requests per day or hour of ``f``'s whole hours, from the rollups."""
    only = (lambda t: [t.c.outcome == outcome]) if outcome else None
    sums = grouped(conn, f, (), ("requests",), bucket=bucket, where=only)
    return {key[0]: int(values[0] or 0) for key, values in sums.items() if values[0]}


def _spans(
    conn: Connection, f: Filters, outcome: str | None, newest: bool
) -> Iterator[tuple[datetime, datetime, int | None]]:
    """The range's pieces from one end, (start, end, requests): partial hours at either end
    counted raw; whole days from the rollups, with count None (to be split into hours)."""
    lo, hi = ceil_hour(f.start), floor_hour(f.end)
    if lo >= hi:
        yield f.start, f.end, _raw(conn, f, outcome)
        return
    edges = [(f.start, lo), (hi, f.end)]
    head, tail = (edges[1], edges[0]) if newest else (edges[0], edges[1])
    if head[0] < head[1]:
        yield head[0], head[1], _raw(conn, replace(f, start=head[0], end=head[1]), outcome)
    days = _counts(conn, replace(f, start=lo, end=hi), outcome, "day")
    for day in sorted(days, reverse=newest):
        yield max(day, lo), min(day + _DAY, hi), None
    if tail[0] < tail[1]:
        yield tail[0], tail[1], _raw(conn, replace(f, start=tail[0], end=tail[1]), outcome)


def _hours(
    conn: Connection, f: Filters, outcome: str | None, newest: bool
) -> Iterator[tuple[datetime, datetime, int]]:
    """The range's hours (partial ones at its ends) with their requests, from one end."""
    for start, end, count in _spans(conn, f, outcome, newest):
        if count is not None:
            yield start, end, count
            continue
        hours = _counts(conn, replace(f, start=start, end=end), outcome, "hour")
        for hour in sorted(hours, reverse=newest):
            yield hour, hour + _HOUR, hours[hour]


def window(
    conn: Connection,
    f: Filters,
    outcome: str | None,
    position: int,
    n: int,
    newest: bool,
    rows_from: datetime | None,
) -> tuple[Filters, int] | None:
    """(``f`` cut to the hours holding rows ``position`` to ``position + n`` (0-based,
    counted from the newest or the oldest end), the rows of the cut range to skip), or None
    when the rollups cannot be trusted to count there. The cut bounds the read on both
    sides, so however the planner estimates it, it reads a few hours' rows at most."""
    if f.tags or (not newest and rows_from is not None and f.start < rows_from):
        return None  # counting from the oldest end would cross hours whose rows are gone
    seen, found = 0, None
    for start, end, count in _hours(conn, f, outcome, newest):
        if found is None and position < seen + count:
            if newest and rows_from is not None and start < rows_from:
                return None
            found = (end if newest else start), position - seen
        seen += count
        if found is not None and seen >= position + n:
            near, skip = found
            if not newest:
                return replace(f, start=near, end=end), skip
            whole = rows_from is None or start >= rows_from  # else older rows may be gone
            return replace(f, start=start if whole else f.start, end=near), skip
    if found is None:
        return None  # the rollups count fewer rows than the total: read by offset
    near, skip = found
    return (replace(f, end=near) if newest else replace(f, start=near)), skip


def rows_at(
    conn: Connection,
    f: Filters,
    outcome: str | None,
    offset: int,
    size: int,
    total: int,
    descending: bool,
    rows_from: datetime | None,
    read: Callable[[Filters, bool, int, int], list[Row[Any]]],
) -> list[Row[Any]] | None:
    """The rows ``OFFSET offset LIMIT size`` gives in time order (newest first when
    ``descending``), read from the end nearer to them; None when only an offset read can.
    ``read(f, ascending, skip, n)`` reads n rows of ``f`` after skipping ``skip``."""
    if offset >= total:
        return []
    from_start = offset <= total - offset - size
    if from_start:
        position, n = offset, size
    else:  # the page's rows counted from the other end, in the other order
        n = min(size, total - offset)
        position = total - offset - n
    newest = descending == from_start
    if rows_from is not None and f.start < rows_from and not (newest and from_start):
        return None  # the position would come from the oldest end, or from the total
    found = window(conn, f, outcome, position, n, newest, rows_from)
    if found is None:
        return None
    cut, skip = found
    rows = list(read(cut, not newest, skip, n))
    return rows if from_start else rows[::-1]
