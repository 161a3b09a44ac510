"""Budgets & alerts: every budget's spend in its current period, with status and forecast."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import dash
import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from collector import analytics
from dashboard import figures, ids, tables
from dashboard.components import data_table, graph_card, page_header, table_card
from dashboard.pages import _alert_history
from dashboard.pages._common import Slot, fill, register_download, register_page, view

PATH = "/budgets"
BURN = "budgets-burn"
TABLE = "budgets-table"
CSV = "budgets-csv"
DOWNLOAD = "budgets-download"
PICK = "budgets-pick"
BURNDOWN = "budgets-burndown"
OUTPUTS: tuple[Slot, ...] = ((BURN, "figure"), (TABLE, "data"), (PICK, "options"), (PICK, "value"))

COLUMNS = tables.columns(
    [
        ("name", "Budget"),
        ("status", "Status"),
        ("scope", "Scope"),
        ("period", "Period"),
        ("mode", "Mode"),
        ("window", "Current period"),
        ("amount_usd", "Amount"),
        ("spent_usd", "Spent"),
        ("used_pct", "Used"),
        ("forecast_usd", "Forecast"),
        ("remaining_usd", "Remaining"),
    ]
)
FORMATS = {
    "amount_usd": tables.money,
    "spent_usd": tables.money,
    "forecast_usd": tables.money,
    "remaining_usd": tables.money,
    "used_pct": lambda v: tables.ratio(None if v is None else float(v) / 100),
}
STATUS_STYLES = [
    {"if": {"filter_query": '{status} = "Over budget"', "column_id": "status"}, "color": "#e74c3c"},
    {"if": {"filter_query": '{status} = "Will exceed"', "column_id": "status"}, "color": "#e67e22"},
    {"if": {"filter_query": '{status} = "Near limit"', "column_id": "status"}, "color": "#f39c12"},
]


def budget_state(amount: Decimal, spent: Decimal, forecast: Decimal) -> str:
    """One word a finance person acts on: over, will exceed, near the limit, or on track."""
    if amount and spent >= amount:
        return "Over budget"
    if amount and forecast > amount:
        return "Will exceed"
    if amount and spent >= amount * Decimal("0.8"):
        return "Near limit"
    return "On track"


def _scope(kind: str, value: str | None, projects: dict[str, str]) -> str:
    if not value:
        return kind
    return f"{kind}: {projects.get(value, value) if kind == 'project' else value}"


def table_frame(status: pd.DataFrame, projects: dict[str, str]) -> pd.DataFrame:
    """Budget status with a status word, a readable scope and the period's days (inclusive)."""
    money = zip(status["amount_usd"], status["spent_usd"], status["forecast_usd"], strict=True)
    scopes = zip(status["scope_kind"], status["scope_value"], strict=True)
    periods = zip(status["period_start"], status["period_end"], strict=True)
    return status.assign(
        status=[budget_state(a, s, f) for a, s, f in money],
        scope=[_scope(k, v, projects) for k, v in scopes],
        window=[
            f"{tables.day(s)} → {tables.day(e - timedelta(microseconds=1))}" for s, e in periods
        ],
    )


def layout(**query: Any) -> html.Div:
    table = data_table(TABLE, COLUMNS, page_size=20, style_data_conditional=STATUS_STYLES)
    picker = dcc.Dropdown(
        id=PICK,
        options=[],
        clearable=False,
        placeholder="Budget",
        className="ss-filter",
        style={"minWidth": "240px"},
    )
    page = html.Div(
        [
            page_header(
                "Budgets & alerts",
                "Every budget's spend in its current period (the filter bar does not apply).",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        graph_card("Burn", BURN, subtitle="spent (bar) and forecast (◆)"), lg=5
                    ),
                    dbc.Col(graph_card("Burn-down", BURNDOWN, controls=picker), lg=7),
                ],
                className="g-3",
            ),
            dbc.Row(dbc.Col(table_card("Budgets", table, button_id=CSV, download_id=DOWNLOAD))),
            dbc.Row(dbc.Col(_alert_history.section())),
        ],
        className="ss-stack",
    )
    return filled(page)


def filled(page: html.Div) -> html.Div:
    """``page`` with its data drawn in: the page paints in one round trip, not three (the
    burn-down waited for the picker's value, which waited for the page's layout)."""
    values = update(None, None, None)
    fill(page, OUTPUTS, values)
    page[BURNDOWN].figure = update_burndown(values[-1], None)
    _alert_history.fill_first_page(page)
    return page


def status_frame(search: str | None) -> pd.DataFrame:
    v = view(search)
    projects = {str(pid): name for pid, name in analytics.filter_options(v.engine).projects}
    return table_frame(analytics.budget_status(v.engine, v.now, v.settings.timezone), projects)


def update(
    search: str | None, _tick: int | None, picked: int | None
) -> tuple[go.Figure, list[Any], list[dict[str, Any]], int | None]:
    """Burn bars, the table, and the burn-down picker (keeps its choice while it exists)."""
    df = status_frame(search)
    options = [
        {"label": n, "value": int(i)} for i, n in zip(df["budget_id"], df["name"], strict=True)
    ]
    ids_ = [o["value"] for o in options]
    longer = [int(i) for i, p in zip(df["budget_id"], df["period"], strict=True) if p != "day"]
    chosen = picked if picked in ids_ else next(iter(longer or ids_), None)
    return figures.budget_burn(df), tables.records(df, FORMATS), options, chosen


def update_burndown(budget_id: int | None, _tick: int | None) -> go.Figure:
    v = view(None)
    status = analytics.budget_status(v.engine, v.now, v.settings.timezone)
    row = status[status["budget_id"] == budget_id]
    if budget_id is None or row.empty:
        return figures.empty("No budgets yet — add one to track spend against a limit")
    b = row.iloc[0]
    df = analytics.budget_burndown(v.engine, int(budget_id), v.now, v.settings.timezone)
    return figures.budget_burndown(
        df, amount=b["amount_usd"], forecast=b["forecast_usd"], period_end=b["period_end"]
    )


def download(_clicks: int | None, search: str | None) -> dict[str, Any]:
    return tables.csv_download(status_frame(search), "budgets", view(search).now)


def register(app: dash.Dash) -> None:
    register_page(
        __name__,
        path=PATH,
        name="Budgets & alerts",
        title="Budgets · spendscope",
        order=6,
        layout=layout,
    )
    app.callback(
        *(Output(component, prop) for component, prop in OUTPUTS),
        Input(ids.URL, "search"),
        Input(ids.INTERVAL, "n_intervals"),
        State(PICK, "value"),
        prevent_initial_call=True,
    )(update)
    app.callback(
        Output(BURNDOWN, "figure"),
        Input(PICK, "value"),
        Input(ids.INTERVAL, "n_intervals"),
        prevent_initial_call=True,
    )(update_burndown)
    register_download(app, CSV, DOWNLOAD, download)
    _alert_history.register(app)
