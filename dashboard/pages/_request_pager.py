"""The request log's pager: by time, a step to the next, previous, first or last page reads
the page by cursor (``analytics.requests_seek``: as fast at page 100,000 as at page 1); a
jump to any other page, and the sorts by cost or duration, read it by offset.

The pager's state (a ``dcc.Store``) remembers the page shown: its number, the cursors of its
first and last rows, the total, and what it was read for (URL query and sort), so the next
step knows where to start; a different query or sort starts afresh.
"""

from __future__ import annotations

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
        descending=descending, **kw,
    )  # fmt: skip
    return df, total, page


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
    if page == last and total:
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
    if column != "started_at":
        df, total, page = _offset(v, page, size, column, descending, **kw)
        return df, total, page, {**fresh, "page": page, "total": total}
    known = state if state and state.get("key") == fresh["key"] else None
    direction, token, want = _move(known, page, size)
    if not direction:
        df, total, page = _offset(v, page, size, column, descending, **kw)
        return df, total, page, {**fresh, "page": page, "total": total}
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
        "total": found.total,
        "first": found.first.token() if found.first else None,
        "last": found.last.token() if found.last else None,
    }
    return found.rows, found.total, page, state
