"""Detail from ``requests``: the paged table, one request with its attempts, filter choices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Engine,
    Row,
    Select,
    and_,
    func,
    literal_column,
    select,
)
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from collector.analytics import _jump
from collector.analytics._frames import frame
from collector.analytics._model import (
    SORTABLE,
    Filters,
    SortBy,
)
from collector.analytics._search import hidden, search_condition
from collector.analytics._sql import (
    REQUESTS,
    floor_hour,
    grouped,
    key_labels,
    label,
    project_names,
    request_where,
)
from collector.db.prune import months_condition
from collector.histogram import LATENCY_BOUNDS_MS, LATENCY_COLUMNS

PAGE_COLUMNS = (
    "id", "started_at", "project", "key", "end_user", "model", "outcome", "http_status",
    "error_type", "duration_ms", "ttft_ms", "attempt_count", "prompt_tokens",
    "completion_tokens", "cost_usd", "cost_source", "stream",
)  # fmt: skip
MAX_PAGE_SIZE = 1000
# Pages by time further than this many rows from either end are found through the rollups
# (``_jump``); nearer ones are read by offset, which walks that few rows in a few ms.
JUMP_FROM = 2000


def _conditions(
    conn: Connection, f: Filters, outcome: str | None, search: str | None
) -> list[ColumnElement[bool]]:
    dialect = conn.dialect.name
    conds = request_where(f)
    if (months := months_condition(conn, f.start, f.end)) is not None:
        conds.append(months)  # the planner reads only the months holding the range's rows
    if outcome:
        conds.append(REQUESTS.c.outcome == outcome)
    if search and search.strip():
        found = search_condition(dialect, search.strip())
        if dialect == "sqlite":  # the matches drive the query; the rest filters them
            return [hidden(and_(*conds)), found]
        conds.append(found)
    return conds


def _raw_count(
    conn: Connection,
    f: Filters,
    outcome: str | None,
    search: str | None,
    cap: int | None = None,
) -> int:
    conds = _conditions(conn, f, outcome, search)
    if cap is None:
        return int(conn.scalar(select(func.count()).select_from(REQUESTS).where(*conds)) or 0)
    found: Select[Any] = (
        select(literal_column("1")).select_from(REQUESTS).where(*conds).limit(cap + 1)
    )
    return int(conn.scalar(select(func.count()).select_from(found.subquery())) or 0)


def count_matching(
    conn: Connection,
    f: Filters,
    outcome: str | None,
    search: str | None,
    cap: int | None = None,
) -> int:
    """Exact total: rollups for the whole hours inside the range, ``requests`` at the edges.

    A search or tag filter cannot be answered from the rollups, so it counts raw rows: at
    most ``cap`` + 1 of them when a ``cap`` is given (a total of ``cap`` + 1 then means
    "more than ``cap``"; each match of a text search is checked on its own heap page, 46,650
    of them for "timeout" over 30 days of 50 M requests).
    """
    first = floor_hour(f.start)
    first = first if first == f.start else first + timedelta(hours=1)
    last = floor_hour(f.end)
    if search or f.tags or first >= last:
        return _raw_count(conn, f, outcome, search, cap if search or f.tags else None)
    inner = Filters(first, last, f.project_ids, f.api_key_ids, f.end_users, f.models)
    only = (lambda t: [t.c.outcome == outcome]) if outcome else None
    total = sum(
        int(n or 0) for (n,) in grouped(conn, inner, (), ("requests",), where=only).values()
    )
    for lo, hi in ((f.start, first), (last, f.end)):
        if lo < hi:
            edge = Filters(lo, hi, f.project_ids, f.api_key_ids, f.end_users, f.models)
            total += _raw_count(conn, edge, outcome, None)
    return total


def requests_page(
    engine: Engine,
    f: Filters,
    *,
    page: int = 1,
    page_size: int = 50,
    sort_by: SortBy = "started_at",
    descending: bool = True,
    outcome: str | None = None,
    search: str | None = None,
    rows_from: datetime | None = None,
    count_cap: int | None = None,
) -> tuple[pd.DataFrame, int]:
    """One page (1-based) of requests in the exact range, and the total matching count.

    Sorts by ``started_at``, ``id``, ``cost_usd`` or ``duration_ms``; ties are broken by id
    so offset pages neither overlap nor skip, and unpriced requests (no cost) sort last in
    either direction. Time and id sorts walk an index; a cost sort over a wide range walks
    the (cost_usd, id) index (see ``_by_cost``); a duration sort reads only the rows past a
    bound taken from the rollups' latency histograms (see ``_by_duration``). ``search``
    matches a request id, upstream request id or Batch API job id (its lines) exactly, or a
    substring of the error message in any case, through an index (``_search``). A deep page
    by time is found through the rollups' hourly counts (``_jump``), as exactly as by
    offset; ``rows_from`` (the retention's cutoff: raw rows before it may be gone while the
    rollups still count them) bounds what those counts are trusted for. ``count_cap``: a
    search or tag filter counts at most that many matches (``count_matching``). Steps to the next
    or previous page are cheaper by cursor (``requests_seek``). Columns: id, started_at, project,
    key, end_user, model, outcome, http_status (Int64), error_type, duration_ms, ttft_ms,
    attempt_count, prompt_tokens, completion_tokens, cost_usd (Decimal, None when unpriced),
    cost_source, stream.
    """
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page must be >= 1 and page_size within 1..{MAX_PAGE_SIZE}")
    if sort_by not in SORTABLE:
        raise ValueError(f"sort_by must be one of {', '.join(SORTABLE)}")
    offset = (page - 1) * page_size
    with engine.connect() as conn:
        conds = _conditions(conn, f, outcome, search)
        names, keys = project_names(conn), key_labels(conn)
        total = count_matching(conn, f, outcome, search, count_cap)
        if sort_by == "cost_usd":
            found = _by_cost(conn, conds, descending, offset, page_size, total)
        elif sort_by == "duration_ms":
            window = _Window(f, outcome, search, descending, offset, page_size, total)
            found = _by_duration(conn, conds, window)
        else:
            window = _Window(f, outcome, search, descending, offset, page_size, total)
            found = _by_order(conn, conds, sort_by, window, rows_from)
        rows = [page_row(row, names, keys) for row in found]
    df = frame(rows, PAGE_COLUMNS)
    df["http_status"] = df["http_status"].astype("Int64")
    return df, total


def _by_order(
    conn: Connection,
    conds: list[ColumnElement[bool]],
    sort_by: SortBy,
    w: _Window,
    rows_from: datetime | None,
) -> list[Row[Any]]:
    """By time or id: a deep page by time through the rollups (``_by_time``), else by offset."""
    if sort_by == "started_at" and not (w.search or w.f.tags) and w.offset > JUMP_FROM:
        jumped = _by_time(conn, w, rows_from)
        if jumped is not None:
            return jumped
    return list(conn.execute(_rows(conds, _order(sort_by, w.descending), w.offset, w.size)))


def _by_time(conn: Connection, w: _Window, rows_from: datetime | None) -> list[Row[Any]] | None:
    """The page by time, from the hour the rollups place its first row in (``_jump``)."""

    def read(cut: Filters, ascending: bool, skip: int, n: int) -> list[Row[Any]]:
        conds = _conditions(conn, cut, w.outcome, None)
        return list(conn.execute(_rows(conds, _order("started_at", not ascending), skip, n)))

    return _jump.rows_at(
        conn, w.f, w.outcome, w.offset, w.size, w.total, w.descending, rows_from, read
    )


def _rows(
    conds: list[ColumnElement[bool]], order: list[Any], offset: int, size: int
) -> Select[Any]:
    query = select(*(REQUESTS.c[c] for c in ROW_COLUMNS)).where(*conds).order_by(*order)
    return query.limit(size).offset(offset)


def _order(sort_by: SortBy, descending: bool) -> list[Any]:
    """A total order: id breaks ties so pages never overlap."""
    r = REQUESTS.c
    key = r[sort_by].desc() if descending else r[sort_by].asc()
    return [key] if sort_by == "id" else [key, r.id.desc() if descending else r.id]


def _by_cost(
    conn: Connection,
    conds: list[ColumnElement[bool]],
    descending: bool,
    offset: int,
    size: int,
    total: int,
) -> list[Row[Any]]:
    """Priced requests by (cost, id), then unpriced ones by id: two walks of one index.

    Each part is ordered exactly as the (cost_usd, id) index is (NULL costs are one group
    of it), so both databases can stop after the page instead of ranking the range.
    PostgreSQL picks that walk from its statistics; SQLite (no statistics) is steered to
    it when ``_walk_pays``, else it reads the range by time and ranks it (narrow ranges).
    """
    r = REQUESTS.c
    walk = conn.dialect.name == "sqlite" and _walk_pays(conn, offset + size, total)
    # unary + hides the other conditions from SQLite's planner: only the cost index is left
    rest = [UnaryExpression(and_(*conds).self_group(), operator=custom_op("+"), type_=Boolean())]

    def part(where: ColumnElement[bool], order: list[Any], skip: int, n: int) -> list[Row[Any]]:
        return list(conn.execute(_rows([where, *(rest if walk else conds)], order, skip, n)))

    rows = part(r.cost_usd.is_not(None), _order("cost_usd", descending), offset, size)
    if len(rows) == size:
        return rows
    if rows or not offset:
        priced = offset + len(rows)
    else:  # the page starts past the priced rows: count them
        query = select(func.count()).select_from(REQUESTS).where(*conds, r.cost_usd.is_not(None))
        priced = int(conn.scalar(query) or 0)
    by_id = [r.id.desc() if descending else r.id]
    return rows + part(r.cost_usd.is_(None), by_id, max(0, offset - priced), size - len(rows))


@dataclass(frozen=True, slots=True)
class _Window:
    """What a page asks for, besides its SQL conditions."""

    f: Filters
    outcome: str | None
    search: str | None
    descending: bool
    offset: int
    size: int
    total: int


def _by_duration(conn: Connection, conds: list[ColumnElement[bool]], w: _Window) -> list[Row[Any]]:
    """The page sorted by duration, reading only rows past :func:`duration_bound`.

    With the bound, both databases walk the range in the (started_at, duration_ms) index
    (migration 0011) and fetch only the rows past it (e.g. a day's ~1,000 slowest of ~330 k)
    before ranking them. Should the page come out short of what ``total`` promises (rollups
    behind the rows), it is read again without the bound.
    """
    order = _order("duration_ms", w.descending)
    bound = duration_bound(conn, w)
    if bound is not None:
        rows = list(conn.execute(_rows([*conds, bound], order, w.offset, w.size)))
        if len(rows) >= min(w.size, w.total - w.offset):
            return rows
    return list(conn.execute(_rows(conds, order, w.offset, w.size)))


def duration_bound(conn: Connection, w: _Window) -> ColumnElement[bool] | None:
    """A condition on ``duration_ms`` that every row of the page meets, or None.

    The latency histograms of the whole hours inside the range (a subset of its rows) count
    at least ``offset + size`` rows past a bucket bound, so the range holds at least as many:
    the page's rows (the slowest first, or the fastest) all lie past that bound. Buckets
    include their upper bound, as ``collector.histogram`` counts them.
    """
    wanted = w.offset + w.size
    first, last = floor_hour(w.f.start), floor_hour(w.f.end)
    first = first if first == w.f.start else first + timedelta(hours=1)
    if w.search or w.f.tags or first >= last or wanted >= w.total:
        return None
    f = w.f
    inner = Filters(first, last, f.project_ids, f.api_key_ids, f.end_users, f.models)
    only = (lambda t: [t.c.outcome == w.outcome]) if w.outcome else None
    sums = grouped(conn, inner, (), LATENCY_COLUMNS, where=only).get((), [])
    counts = [int(v or 0) for v in sums]
    duration, seen = REQUESTS.c.duration_ms, 0
    if w.descending:  # bucket i holds (bound[i - 1], bound[i]]
        for i in range(len(counts) - 1, 0, -1):
            seen += counts[i]
            if seen >= wanted:
                return duration > LATENCY_BOUNDS_MS[i - 1]
        return None
    for i, count in enumerate(counts[:-1]):
        seen += count
        if seen >= wanted:
            return duration <= LATENCY_BOUNDS_MS[i]
    return None


def _walk_pays(conn: Connection, wanted: int, matching: int) -> bool:
    """Whether walking the cost index beats ranking the range, on SQLite.

    A walk visits about ``wanted`` × rows in the table / ``matching`` entries (the matching
    rows spread evenly); ranking visits the ``matching`` rows. max(rowid) stands for the
    table's size (O(log n); deleted rows only make the walk look dearer).
    """
    table_rows = int(
        conn.scalar(select(func.max(literal_column("rowid"))).select_from(REQUESTS)) or 0
    )
    return matching > 0 and wanted * table_rows < matching * matching


ROW_COLUMNS = (
    "id", "started_at", "project_id", "api_key_id", "end_user", "model_served",
    "model_requested", "outcome", "http_status", "error_type", "duration_ms", "ttft_ms",
    "attempt_count", "prompt_tokens", "completion_tokens", "cost_usd", "cost_source", "stream",
)  # fmt: skip


def page_row(row: Any, names: dict[int, str], keys: dict[int, str]) -> tuple[Any, ...]:
    m = row._mapping
    return (
        m["id"],
        m["started_at"],
        label(m["project_id"], names),
        label(m["api_key_id"], keys),
        m["end_user"],
        m["model_served"] or m["model_requested"],
        m["outcome"],
        m["http_status"],
        m["error_type"],
        m["duration_ms"],
        m["ttft_ms"],
        m["attempt_count"],
        m["prompt_tokens"],
        m["completion_tokens"],
        m["cost_usd"],
        m["cost_source"],
        bool(m["stream"]),
    )
