"""Requests: the request log, paged and sorted on the server; a row opens its detail.

Steps through the log by time read by cursor (``_request_pager``), so any depth is as quick
as the first page; a range reaching back past the retention says that its oldest raw rows
are gone (totals elsewhere still count them: they come from the rollups).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, ctx, dcc, html, no_update

from collector import analytics
from collector.usage import ANSWERED_OUTCOMES
from dashboard import ids, tables
from dashboard.components import page_header, paged_table, table_card
from dashboard.filters import choice, query_of, search_of, with_param
from dashboard.pages._common import (
    Slot,
    View,
    fill,
    params,
    register_page,
    register_url_param,
    view,
)
from dashboard.pages._request_detail import attempts_frame, detail_body
from dashboard.pages._request_pager import Pager, load_page
from dashboard.palette import OUTCOME_COLOURS

PATH = "/requests"
OUTCOME = "requests-outcome"
SEARCH = "requests-search"
TABLE = "requests-table"
TOTAL = "requests-total"
PAGER = "requests-pager"
CSV = "requests-csv"
DOWNLOAD = "requests-download"
DETAIL = "requests-detail"
DETAIL_ID = "requests-detail-id"
ATTEMPTS_CSV = "requests-attempts-csv"
ATTEMPTS_DOWNLOAD = "requests-attempts-download"

TABLE_OUTPUTS: tuple[Slot, ...] = (
    (TABLE, "data"),
    (TABLE, "page_count"),
    (TOTAL, "children"),
    (TABLE, "page_current"),
    (PAGER, "data"),
)
DETAIL_OUTPUTS: tuple[Slot, ...] = (
    (DETAIL, "is_open"),
    (DETAIL, "children"),
    (DETAIL_ID, "data"),
    (TABLE, "active_cell"),
)
PAGE_SIZE = 50
# A search (or tag filter) counts at most this many matches: each costs a heap page read,
# and beyond it the table says "more than" and offers no last page (sort the other way).
COUNT_CAP = 10_000
# Sorted by cost or duration the table offers this many pages: the 10,000 dearest or slowest
# requests (sorted the other way, the cheapest or fastest). Deeper pages of such an order can
# only be read by offset, seconds at tens of millions of requests, for rows of equal cost.
SORTED_PAGES = 200
CSV_MAX_ROWS = 10_000
OUTCOMES = (
    "success", "cache_hit", "client_error", "upstream_error", "timeout", "cancelled", "blocked",
)  # fmt: skip
SORTABLE = ("started_at", "cost_usd", "duration_ms")
# A first click on these sorts largest first (the most expensive, the slowest): the table
# asks "asc" on a first click, so their directions are read the other way round.
LARGEST_FIRST = ("cost_usd", "duration_ms")
OUTCOME_OPTIONS: Any = [{"label": o.replace("_", " "), "value": o} for o in OUTCOMES]
# What a person scans first comes first (at 1400 px everything up to Project shows without
# scrolling); the short id is the request id's random tail, the panel shows it whole.
COLUMNS = tables.columns(
    [
        ("started_at", "Started (UTC)"),
        ("short_id", "Request"),
        ("model", "Model"),
        ("outcome", "Outcome"),
        ("cost_usd", "Cost"),
        ("duration_ms", "Duration"),
        ("attempt_count", "Attempts"),
        ("project", "Project"),
        ("key", "Key"),
        ("end_user", "User"),
        ("http_status", "Status"),
        ("prompt_tokens", "In tokens"),
        ("completion_tokens", "Out tokens"),
    ]
)
FORMATS = {
    "started_at": tables.when,
    "duration_ms": tables.duration,
    "ttft_ms": tables.duration,
    "prompt_tokens": tables.count,
    "completion_tokens": tables.count,
    "cost_usd": tables.money,
}
_OUTCOME_STYLES = [
    {
        "if": {"filter_query": f'{{outcome}} = "{o}"', "column_id": "outcome"},
        "color": c,
        "fontWeight": 700,
    }
    for o, c in OUTCOME_COLOURS.items()
    if o not in ANSWERED_OUTCOMES
]
# Only these columns sort on the server; hide the sort arrows of the others.
_SORT_CSS = [
    {
        "selector": "th"
        + "".join(f':not([data-dash-column="{c}"])' for c in SORTABLE)
        + " .column-header--sort",
        "rule": "display: none",
    },
    *(
        {"selector": f'th[data-dash-column="{c}"] .column-header--sort',
         "rule": "display: inline-block; transform: scaleY(-1)"}
        for c in LARGEST_FIRST
    ),
]  # fmt: skip


def _outcome(source: Mapping[str, Any] | str | None) -> str:
    return choice(params(source), "outcome", OUTCOMES, "")


def _search(source: Mapping[str, Any] | str | None) -> str:
    value = params(source).get("q") or ""
    return value if isinstance(value, str) else str(value[0])


def _controls(query: dict[str, Any]) -> html.Div:
    return html.Div(
        [
            dcc.Dropdown(
                id=OUTCOME,
                options=OUTCOME_OPTIONS,
                value=_outcome(query) or None,
                placeholder="Any outcome",
                className="ss-filter",
            ),
            dbc.Input(
                id=SEARCH,
                value=_search(query),
                placeholder="Request id or error text, then Enter",
                debounce=True,
                size="sm",
                className="ss-search",
            ),
            html.Span(id=TOTAL, className="ss-total text-muted"),
        ],
        className="ss-table-controls",
    )


def _table() -> Any:
    return paged_table(
        TABLE,
        COLUMNS,
        PAGE_SIZE,
        sort_action="custom",
        sort_mode="single",
        sort_by=[{"column_id": "started_at", "direction": "desc"}],
        style_data_conditional=[
            *_OUTCOME_STYLES,
            {"if": {"state": "active"}, "backgroundColor": "#e8f6f3"},
        ],
        css=_SORT_CSS,
        cell_selectable=True,
    )


def layout(**query: Any) -> html.Div:
    detail = dbc.Offcanvas(
        id=DETAIL, title="Request", placement="end", is_open=False, className="ss-detail"
    )
    page = html.Div(
        [
            dcc.Store(id=DETAIL_ID),
            dcc.Store(id=PAGER),
            dcc.Download(id=ATTEMPTS_DOWNLOAD),
            page_header(
                "Requests",
                "Every request, newest first (sort by time, duration or cost in the headers). "
                "Click a row to see its attempts.",
            ),
            _controls(query),
            table_card(
                "Request log",
                _table(),
                button_id=CSV,
                download_id=DOWNLOAD,
                subtitle=f"CSV: up to {CSV_MAX_ROWS:,} matching rows",
            ),
            detail,
        ],
        className="ss-stack",
    )
    # the first page of the log (and a ``?request=`` link's detail) drawn in: the page
    # paints in the router's round trip; the callbacks answer paging, sorting, filters
    search = search_of(query)
    fill(page, TABLE_OUTPUTS, update_table(search, 0, None, None, None))
    fill(page, DETAIL_OUTPUTS, show_detail(None, None, False, search))
    return page


def sort_of(sort_by: list[dict[str, str]] | None) -> tuple[str, bool]:
    """(column, descending) the query layer can sort by; anything else falls back to time."""
    if sort_by and sort_by[0].get("column_id") in SORTABLE:
        column, direction = sort_by[0]["column_id"], sort_by[0].get("direction")
        return column, (direction == "asc") == (column in LARGEST_FIRST)
    return "started_at", True


def update_table(
    search: str | None,
    page_current: int | None,
    sort_by: list[dict[str, str]] | None,
    _tick: int | None,
    pager: Pager | None = None,
    *,
    new_filters: bool = False,
) -> tuple[list[dict[str, Any]], int | None, str, int, Pager]:
    """One page of the log; a change of filters goes back to the first page. Past
    ``COUNT_CAP`` matches of a search the page count is left open (no last page); sorted by
    cost or duration, the first ``SORTED_PAGES`` pages are offered."""
    v = view(search)
    sort = sort_of(sort_by)
    page = 0 if new_filters else page_current or 0
    if sort[0] != "started_at":
        page = min(page, SORTED_PAGES - 1)
    text = _search(search) or None
    df, total, page, state = load_page(
        v, search or "", page, PAGE_SIZE, sort, pager,
        outcome=_outcome(search) or None, search=text,
        count_cap=COUNT_CAP if text or v.filters.tags else None,
    )  # fmt: skip
    pages, label = _pages(total, bool(state.get("capped")), sort[0])
    label += retention_note(v)
    shown = df.assign(short_id=[tables.short_id(i) for i in df["id"]])
    return tables.records(shown, FORMATS), pages, label, page, state


def _pages(total: int, capped: bool, column: str) -> tuple[int | None, str]:
    """The page count the table offers (None: open, no last page) and the total's line."""
    if capped:
        return None, f"more than {COUNT_CAP:,} matching requests"
    pages = max(1, math.ceil(total / PAGE_SIZE))
    label = f"{total:,} matching request{'s' if total != 1 else ''}"
    if column == "started_at" or pages <= SORTED_PAGES:
        return pages, label
    by = column.removesuffix("_ms").removesuffix("_usd")
    rows = SORTED_PAGES * PAGE_SIZE
    return (
        SORTED_PAGES,
        f"{label} · by {by}: the first {rows:,} (sort the other way for the other end)",
    )


def retention_note(v: View) -> str:
    """What the log cannot show of the range: raw rows older than the retention."""
    days = v.settings.retention_days
    if days is None or v.filters.start >= v.now - timedelta(days=days):
        return ""
    cutoff = v.now - timedelta(days=days)
    return (
        f" · requests before {cutoff:%Y-%m-%d %H:%M} UTC are past the {days}-day retention:"
        " only unpriced ones are kept (totals and reports still count them all)"
    )


def csv_frame(search: str | None) -> pd.DataFrame:
    """Up to ``CSV_MAX_ROWS`` matching requests, newest first, with exact amounts."""
    v = view(search)
    frames, page = [], 1
    while page * 1000 <= CSV_MAX_ROWS:
        df, total = analytics.requests_page(
            v.engine, v.filters, page=page, page_size=1000,
            outcome=_outcome(search) or None, search=_search(search) or None,
        )  # fmt: skip
        frames.append(df)
        if page * 1000 >= total:
            break
        page += 1
    return pd.concat(frames, ignore_index=True)


def download(_clicks: int | None, search: str | None) -> dict[str, Any]:
    return tables.csv_download(csv_frame(search), "requests", view(search).now)


def show_detail(
    trigger: str | None,
    active_cell: dict[str, Any] | None,
    is_open: bool,
    search: str | None,
) -> tuple[Any, ...]:
    """Open the panel for a clicked row (or ``?request=`` in the link); closing clears the click."""
    if trigger == DETAIL:
        return no_update, no_update, no_update, None if not is_open else no_update
    if trigger == TABLE:
        request_id = (active_cell or {}).get("row_id")
    else:
        request_id = next(iter(query_of(search).get("request", [])), None)
    if not request_id or not isinstance(request_id, str):
        return no_update, no_update, no_update, no_update
    detail = analytics.request_detail(view(search).engine, request_id)
    body = detail_body(detail, request_id, ATTEMPTS_CSV)
    return True, body, request_id, no_update


def download_attempts(_clicks: int | None, request_id: str | None) -> Any:
    detail = analytics.request_detail(view(None).engine, request_id) if request_id else None
    if detail is None:
        return no_update
    return tables.csv_download(attempts_frame(detail), f"attempts-{request_id}", view(None).now)


def set_param(name: str) -> Any:
    def update(value: str | None, search: str | None) -> str:
        return with_param(search, name, (value or "").strip() or None)

    return update


def register(app: dash.Dash) -> None:
    register_page(
        __name__, path=PATH, name="Requests", title="Requests · spendscope", order=4, layout=layout
    )
    app.callback(
        *(Output(component, prop) for component, prop in TABLE_OUTPUTS),
        Input(ids.URL, "search"),
        Input(TABLE, "page_current"),
        Input(TABLE, "sort_by"),
        Input(ids.INTERVAL, "n_intervals"),
        State(PAGER, "data"),
        prevent_initial_call=True,
    )(lambda *args: update_table(*args, new_filters=ctx.triggered_id == ids.URL))
    app.callback(
        *(Output(component, prop) for component, prop in DETAIL_OUTPUTS),
        Input(TABLE, "active_cell"),
        Input(DETAIL, "is_open"),
        Input(ids.URL, "search"),
        prevent_initial_call=True,
    )(lambda cell, is_open, search: show_detail(ctx.triggered_id, cell, is_open, search))
    for button, target, func in (
        (CSV, DOWNLOAD, download),
        (ATTEMPTS_CSV, ATTEMPTS_DOWNLOAD, download_attempts),
    ):
        state = State(ids.URL, "search") if button == CSV else State(DETAIL_ID, "data")
        app.callback(
            Output(target, "data"), Input(button, "n_clicks"), state, prevent_initial_call=True
        )(func)
    for control, name in ((OUTCOME, "outcome"), (SEARCH, "q")):
        register_url_param(app, control, set_param(name))
