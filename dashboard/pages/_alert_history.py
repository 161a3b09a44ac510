"""The Budgets & alerts page's alert history: every alert event, newest first, paged."""

from __future__ import annotations

import math
from typing import Any

import dash
import pandas as pd
from dash import Input, Output, html

from collector import analytics
from dashboard import ids, tables
from dashboard.components import paged_table, table_card
from dashboard.pages._common import Slot, fill, register_download, view

TABLE = "alerts-history-table"
EMPTY = "alerts-history-empty"
CSV = "alerts-history-csv"
DOWNLOAD = "alerts-history-download"
PAGE_SIZE = 15
CSV_LIMIT = 1000
EMPTY_TEXT = (
    "No alert has fired yet. Add a rule (`spendscope alerts add …`, see docs) and run the "
    "evaluator (`spendscope alerts evaluate --watch`); fired and resolved alerts show here."
)

COLUMNS = tables.columns(
    [
        ("fired_at", "Fired (UTC)"),
        ("state", "State"),
        ("rule", "Rule"),
        ("message", "Message"),
        ("scope", "Scope"),
        ("period", "Period / window"),
        ("threshold", "Threshold"),
        ("resolved_at", "Resolved (UTC)"),
        ("delivery", "Delivery"),
    ]
)
FORMATS = {"fired_at": tables.when, "resolved_at": tables.when}
STATE_STYLES = [
    {"if": {"filter_query": '{state} = "firing"', "column_id": "state"}, "color": "#e74c3c"},
    {"if": {"filter_query": '{delivery} contains "failed"', "column_id": "delivery"},
     "color": "#e67e22"},
]  # fmt: skip


OUTPUTS: tuple[Slot, ...] = (
    (TABLE, "data"),
    (TABLE, "page_count"),
    (EMPTY, "children"),
    (TABLE, "tooltip_data"),
)


def section() -> Any:
    table = paged_table(
        TABLE,
        COLUMNS,
        PAGE_SIZE,
        style_data_conditional=STATE_STYLES,
        style_cell_conditional=[
            {"if": {"column_id": c}, "whiteSpace": "normal", "minWidth": "260px"}
            for c in ("message", "delivery")
        ],
        tooltip_duration=None,
    )
    return table_card(
        "Alert history",
        html.Div([html.Div(id=EMPTY), table]),
        button_id=CSV,
        download_id=DOWNLOAD,
        subtitle="newest first; delivery is each channel's result when the alert fired / resolved",
    )


def update(
    page_current: int | None, _tick: int | None
) -> tuple[list[dict[str, Any]], int, Any, list[dict[str, Any]]]:
    """A page of events, the page count, the empty state, and full messages as tooltips."""
    v = view(None)
    page = max(0, page_current or 0)
    df, total = analytics.alert_history(v.engine, page=page + 1, page_size=PAGE_SIZE)
    empty = html.Div(EMPTY_TEXT, className="ss-notice text-muted mb-2") if total == 0 else None
    tips = [{"message": {"value": str(m), "type": "text"}} for m in df["message"]]
    return tables.records(df, FORMATS), max(1, math.ceil(total / PAGE_SIZE)), empty, tips


def fill_first_page(page: Any) -> None:
    """The history's first page drawn into ``page`` (the Budgets page's layout)."""
    fill(page, OUTPUTS, update(0, None))


def csv_frame() -> pd.DataFrame:
    df, _total = analytics.alert_history(view(None).engine, page=1, page_size=CSV_LIMIT)
    return df


def download(_clicks: int | None, search: str | None) -> dict[str, Any]:
    return tables.csv_download(csv_frame(), "alerts", view(search).now)


def register(app: dash.Dash) -> None:
    app.callback(
        *(Output(component, prop) for component, prop in OUTPUTS),
        Input(TABLE, "page_current"),
        Input(ids.INTERVAL, "n_intervals"),
        prevent_initial_call=True,  # the first page comes with the layout
    )(update)
    register_download(app, CSV, DOWNLOAD, download)
