"""The requests table by time at any depth: keyset (cursor) pages instead of OFFSET.

A page is the ``size`` rows just past a cursor, the (started_at, id) of a row already
shown, in the table's total order (time, then id): the database walks the
(started_at, …) index from the cursor and stops after ``size + 1`` rows, so the last page of
a month costs what the first does. First and last pages walk from either end of the range;
"previous" walks backwards from the page's first row. The total comes from the rollups, as
for ``requests_page``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pandas as pd
from sqlalchemy import ColumnElement, Connection, Engine, or_, select

from collector.analytics._frames import frame
from collector.analytics._model import Filters
from collector.analytics._requests import (
    MAX_PAGE_SIZE,
    PAGE_COLUMNS,
    ROW_COLUMNS,
    _conditions,
    count_matching,
    page_row,
)
from collector.analytics._search import hidden
from collector.analytics._sql import REQUESTS, key_labels, project_names

Direction = Literal["first", "next", "prev", "last", "at"]
DIRECTIONS: tuple[Direction, ...] = ("first", "next", "prev", "last", "at")
_SEP = "~"
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Cursor:
    """A row's place in the table's order: its start time, then its id."""

    started_at: datetime
    id: str

    def token(self) -> str:
        """The cursor as URL-safe text (``Cursor.parse`` reads it back)."""
        return f"{self.started_at.astimezone(UTC).isoformat()}{_SEP}{self.id}"

    @classmethod
    def parse(cls, token: str) -> Cursor:
        """Read a ``token``; ValueError with one line on anything else."""
        at, sep, request_id = token.partition(_SEP)
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            moment = None
        if not sep or not request_id or moment is None or moment.tzinfo is None:
            raise ValueError(f"not a requests cursor: {token[:80]!r}")
        return cls(moment.astimezone(UTC), request_id)


@dataclass(frozen=True, slots=True)
class SeekPage:
    """One page of the table and where its neighbours start."""

    rows: pd.DataFrame
    total: int
    first: Cursor | None  # the first row shown (the cursor of "previous")
    last: Cursor | None  # the last row shown (the cursor of "next")
    has_prev: bool
    has_next: bool


def _clip(f: Filters, c: Cursor, later: bool) -> Filters | None:
    """``f`` cut at the cursor's time (None when nothing is left): one bound on started_at,
    so the index walk starts at the cursor (given two upper bounds, SQLite may start at the
    range's end and skip rows up to the cursor)."""
    if later:
        start = max(f.start, c.started_at)
        return replace(f, start=start) if start < f.end else None
    end = min(f.end, c.started_at + _TICK)
    return replace(f, end=end) if end > f.start else None


def _tie(c: Cursor, later: bool, inclusive: bool, sqlite: bool) -> ColumnElement[bool]:
    """Among rows at the cursor's time, those past its id (``c`` itself when ``inclusive``).

    Hidden from SQLite's planner: else it may read both arms of the OR by index and sort
    their union instead of walking the time index from the cursor."""
    r = REQUESTS.c
    if later:
        tie = or_(r.started_at > c.started_at, r.id >= c.id if inclusive else r.id > c.id)
    else:
        tie = or_(r.started_at < c.started_at, r.id <= c.id if inclusive else r.id < c.id)
    return hidden(tie) if sqlite else tie


def _walk(
    conn: Connection, conds: list[ColumnElement[bool]], ascending: bool, size: int
) -> list[Any]:
    r = REQUESTS.c
    order = [r.started_at, r.id] if ascending else [r.started_at.desc(), r.id.desc()]
    query = select(*(r[c] for c in ROW_COLUMNS)).where(*conds).order_by(*order)
    return list(conn.execute(query.limit(size + 1)))


def _where(
    conn: Connection,
    f: Filters,
    direction: Direction,
    cursor: Cursor | None,
    descending: bool,
    outcome: str | None,
    search: str | None,
) -> list[ColumnElement[bool]] | None:
    """The page's conditions, None when the cursor leaves nothing of the range."""
    dialect = conn.dialect.name
    if cursor is None or direction in ("first", "last"):
        return _conditions(conn, f, outcome, search)
    # "next" and "at" go on in display order; "prev" goes back against it
    later = (direction != "prev") != descending
    clipped = _clip(f, cursor, later)
    if clipped is None:
        return None
    conds = _conditions(conn, clipped, outcome, search)
    sqlite = dialect == "sqlite"
    tie = _tie(cursor, later, direction == "at", sqlite)
    conds.append(hidden(tie) if sqlite and search else tie)  # the matches drive (_search)
    return conds


def requests_seek(
    engine: Engine,
    f: Filters,
    *,
    direction: Direction = "first",
    cursor: Cursor | None = None,
    page_size: int = 50,
    descending: bool = True,
    outcome: str | None = None,
    search: str | None = None,
    count_cap: int | None = None,
) -> SeekPage:
    """The first or last page, the page after / before ``cursor``, or the page starting at
    it ("at": a page shown again), newest first unless not ``descending``. Columns as
    ``requests_page``'s, ``count_cap`` as its (the total counts at most ``count_cap`` + 1
    matches of a search or tag filter). A "previous" page that would come out short (rows
    gone since) is the first page instead."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be within 1..{MAX_PAGE_SIZE}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
    if direction in ("next", "prev", "at") and cursor is None:
        raise ValueError(f"a {direction!r} page needs a cursor")
    with engine.connect() as conn:
        backwards = direction in ("prev", "last")
        found: list[Any] = []
        where = _where(conn, f, direction, cursor, descending, outcome, search)
        if where is not None:
            found = _walk(conn, where, ascending=descending == backwards, size=page_size)
        more = len(found) > page_size
        found = found[:page_size]
        if direction == "prev" and not more:
            return requests_seek(
                engine, f, page_size=page_size, descending=descending, outcome=outcome,
                search=search, count_cap=count_cap,
            )  # fmt: skip
        if backwards:
            found.reverse()
        total = count_matching(conn, f, outcome, search, count_cap)
        names, keys = project_names(conn), key_labels(conn)
        rows = [page_row(row, names, keys) for row in found]
    df = frame(rows, PAGE_COLUMNS)
    df["http_status"] = df["http_status"].astype("Int64")
    ends = (_cursor(found[0]), _cursor(found[-1])) if found else (None, None)
    return SeekPage(
        rows=df,
        total=total,
        first=ends[0],
        last=ends[1],
        has_prev=more if backwards else direction in ("next", "at"),
        has_next=more if not backwards else direction == "prev",
    )


def _cursor(row: Any) -> Cursor:
    m = row._mapping
    return Cursor(m["started_at"], str(m["id"]))
