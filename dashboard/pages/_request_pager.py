"""The request log's pager: by time, a step to the next, previous, first or last page reads
the page by cursor (``analytics.requests_seek``: as fast at page 100,000 as at page 1); a
jump to any other page reads it by page number (``analytics.requests_page``: by time, found
through the rollups' hourly counts), as do the sorts by cost or duration.

The pager's state (a ``dcc.Store``) remembers the page shown: its number, the cursors of its
first and last rows, the total (or that it is only "more than" a cap, when there is no last
page to step to), and what it was read for (URL query and sort), so the next step knows
where to start; a different query or sort starts afresh.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from collector import analytics
from dashboard.pages._common import View

Pager = dict[str, Any]


def _offset(
    v: View, page: int, size: int, column: str, descending: bool, **kw: Any
) -> tuple[pd.DataFrame, int, int]:
    df, total = analytics.requests_page(
        v.engine, v.filters, page=page + 1, page_size=size, sort_by=column,  # type: ignore[arg-type]
        descending=descending, rows_from=rows_from(v), **kw,
    )  # fmt: skip
    return df, total, page


def rows_from(v: View) -> datetime | None:
    """Where the raw rows are whole (the retention's cutoff): before it the rollups count
    rows that are gone, so a page is not placed by their counts."""
    days = v.settings.retention_days
    return None if days is None else v.now - timedelta(days=days)


def _move(state: Pager | None, page: int, size: int) -> tuple[str, str | None, int]:
    """(direction, cursor token, page size) of the step from the page in ``state`` to
    ``page``; direction "" when only an offset read can reach it."""
    if page == 0:
        return "first", None, size
    if state is None:
        return "", None, size
    shown = int(state.get("page", -1))
    if page == shown + 1 and state.get("last"):
        return "next", state["last"], size
    if page == shown - 1 and state.get("first"):
        return "prev", state["first"], size
    if page == shown and state.get("first"):
        return "at", state["first"], size
    total = int(state.get("total", 0))
    last = max(0, -(-total // size) - 1)
    if page == last and total and not state.get("capped"):
        return "last", None, total - last * size
    return "", None, size


def load_page(
    v: View,
    key: str,
    page: int,
    size: int,
    sort: tuple[str, bool],
    state: Pager | None,
    **kw: Any,
) -> tuple[pd.DataFrame, int, int, Pager]:
    """(rows, total, page number shown, new pager state) for ``page`` (0-based)."""
    column, descending = sort
    fresh: Pager = {"key": [key, column, descending]}
    cap = kw.get("count_cap")

    def counted(total: int) -> Pager:
        return {"total": total, "capped": cap is not None and total > cap}

    if column != "started_at":
        df, total, page = _offset(v, page, size, column, descending, **kw)
        return df, total, page, {**fresh, "page": page, **counted(total)}
    known = state if state and state.get("key") == fresh["key"] else None
    direction, token, want = _move(known, page, size)
    if not direction:
        df, total, page = _offset(v, page, size, column, descending, **kw)
        return df, total, page, {**fresh, "page": page, **counted(total)}
    cursor = analytics.Cursor.parse(token) if token else None
    found = analytics.requests_seek(
        v.engine, v.filters, direction=direction, cursor=cursor,  # type: ignore[arg-type]
        page_size=want, descending=descending, **kw,
    )  # fmt: skip
    if direction == "prev" and not found.has_prev:
        page = 0  # the rows before had thinned out: this is the first page
    state = {
        **fresh,
        "page": page,
        **counted(found.total),
        "first": found.first.token() if found.first else None,
        "last": found.last.token() if found.last else None,
    }
    return found.rows, found.total, page, state
