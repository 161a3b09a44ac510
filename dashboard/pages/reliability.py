"""Reliability: error budgets per project, burn rate, retries, and what the errors are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dash
import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go
from dash import html

from collector import analytics
from dashboard import figures, tables
from dashboard.components import data_table, graph_card, page_header, segmented, table_card
from dashboard.filters import choice, with_param
from dashboard.pages._common import (
    TAG_HINT,
    Data,
    filled,
    params,
    register_data,
    register_download,
    register_page,
    register_url_param,
    view,
)

PATH = "/reliability"
BUDGET = "reliability-budget"
BUDGET_TABLE = "reliability-budget-table"
BUDGET_CSV = "reliability-budget-csv"
BUDGET_DOWNLOAD = "reliability-budget-download"
BURN = "reliability-burn"
RETRY = "reliability-retry"
ATTEMPTS = "reliability-attempts"
ERRORS_BY = "reliability-errors-by"
ERRORS = "reliability-errors"
ERRORS_TABLE = "reliability-errors-table"
ERRORS_CSV = "reliability-errors-csv"
ERRORS_DOWNLOAD = "reliability-errors-download"

ERROR_DIMENSIONS = {"error_type": "Error type", "http_status": "HTTP status", "model": "Model"}
BUDGET_COLUMNS = tables.columns(
    [
        ("project", "Project"),
        ("slo_target", "SLO"),
        ("window_days", "Window (days)"),
        ("eligible", "Eligible"),
        ("bad", "Bad"),
        ("remaining", "Budget left"),
        ("burn_rate", "Burn rate"),
    ]
)
BUDGET_FORMATS = {
    "slo_target": lambda v: tables.ratio(float(v)),
    "eligible": tables.count,
    "bad": tables.count,
    "remaining": tables.ratio,
    "burn_rate": lambda v: tables.text(None if pd.isna(v) else f"{float(v):.2f}×"),
}
ERROR_COLUMNS = tables.columns(
    [
        ("outcome", "Outcome"),
        ("error_type", "Error type"),
        ("http_status", "Status"),
        ("model", "Model"),
        ("requests", "Requests"),
    ]
)


def _errors_by(source: Mapping[str, Any] | str | None) -> str:
    return choice(params(source), "errors_by", tuple(ERROR_DIMENSIONS), "error_type")


def _tables_row(query: dict[str, Any]) -> dbc.Row:
    selector = segmented(ERRORS_BY, ERROR_DIMENSIONS, _errors_by(query))
    errors_table = data_table(ERRORS_TABLE, ERROR_COLUMNS, page_size=10, sort_action="native")
    return dbc.Row(
        [
            dbc.Col(graph_card("Failed requests", ERRORS, controls=selector), lg=6),
            dbc.Col(
                table_card(
                    "Errors",
                    errors_table,
                    button_id=ERRORS_CSV,
                    download_id=ERRORS_DOWNLOAD,
                    subtitle="exact range, from the request log",
                ),
                lg=6,
            ),
        ],
        className="g-3",
    )


def layout(**query: Any) -> html.Div:
    budget_table = table_card(
        "Error budget by project",
        data_table(BUDGET_TABLE, BUDGET_COLUMNS, page_size=10),
        button_id=BUDGET_CSV,
        download_id=BUDGET_DOWNLOAD,
    )
    budget = graph_card("Error budget left", BUDGET, subtitle="each project's SLO window")
    burn = graph_card("Burn rate", BURN, subtitle="1× uses the budget up exactly")
    page = html.Div(
        [
            page_header("Reliability", "Is the error budget holding, and do retries help?"),
            dbc.Row([dbc.Col(budget, lg=6), dbc.Col(budget_table, lg=6)], className="g-3"),
            dbc.Row(
                [
                    dbc.Col(burn, lg=4),
                    dbc.Col(graph_card("Retry success rate", RETRY), lg=4),
                    dbc.Col(graph_card("Attempts per success", ATTEMPTS), lg=4),
                ],
                className="g-3",
            ),
            _tables_row(query),
        ],
        className="ss-stack",
    )
    return filled(page, DATA, query)


def budget_frame(search: str | None) -> pd.DataFrame:
    v = view(search)
    return analytics.error_budget_by_project(v.engine, v.filters, v.now)


def update_budget(search: str | None, _tick: int | None) -> tuple[go.Figure, list[Any]]:
    if view(search).filters.tags:
        return figures.empty(TAG_HINT.format(what="The error budget")), []
    df = budget_frame(search)
    return figures.error_budget(df), tables.records(df, BUDGET_FORMATS)


def update_trends(search: str | None, _tick: int | None) -> tuple[go.Figure, go.Figure, go.Figure]:
    v = view(search)
    if v.filters.tags:
        hint = figures.empty(TAG_HINT.format(what="Reliability"))
        return hint, hint, hint
    df = analytics.reliability(v.engine, v.filters, v.bucket)
    return (
        figures.burn_rate_over_time(df, v.bucket),
        figures.retry_success_over_time(df, v.bucket),
        figures.attempts_per_success(df, v.bucket),
    )


def update_errors(search: str | None, _tick: int | None) -> tuple[go.Figure, list[Any]]:
    v = view(search)
    df = analytics.errors_breakdown(v.engine, v.filters)
    return figures.errors_by(df, _errors_by(search)), tables.records(df, {"requests": tables.count})


DATA = (
    Data(((BUDGET, "figure"), (BUDGET_TABLE, "data")), update_budget),
    Data(((BURN, "figure"), (RETRY, "figure"), (ATTEMPTS, "figure")), update_trends),
    Data(((ERRORS, "figure"), (ERRORS_TABLE, "data")), update_errors),
)


def download_budget(_clicks: int | None, search: str | None) -> Any:
    """Nothing to download under a tag filter: the table beside the button says why."""
    v = view(search)
    if v.filters.tags:
        return dash.no_update
    return tables.csv_download(budget_frame(search), "error-budget", v.now)


def download_errors(_clicks: int | None, search: str | None) -> dict[str, Any]:
    v = view(search)
    return tables.csv_download(analytics.errors_breakdown(v.engine, v.filters), "errors", v.now)


def set_errors_by(value: str, search: str | None) -> str:
    return with_param(search, "errors_by", None if value == "error_type" else value)


def register(app: dash.Dash) -> None:
    register_page(
        __name__,
        path=PATH,
        name="Reliability",
        title="Reliability · spendscope",
        order=2,
        layout=layout,
    )
    register_data(app, DATA)
    for button, download, func in (
        (BUDGET_CSV, BUDGET_DOWNLOAD, download_budget),
        (ERRORS_CSV, ERRORS_DOWNLOAD, download_errors),
    ):
        register_download(app, button, download, func)
    register_url_param(app, ERRORS_BY, set_errors_by)
