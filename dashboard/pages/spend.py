"""Spend: cost over time split by a chosen dimension, the top spenders, and budget burn."""

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
from dashboard.pages import _spend_savings
from dashboard.pages._common import (
    Data,
    filled,
    params,
    register_data,
    register_download,
    register_page,
    register_url_param,
    view,
)

PATH = "/spend"
BY = "spend-by"
OVER_TIME = "spend-over-time"
TOP_GRAPH = "spend-top-graph"
TOP_TABLE = "spend-top-table"
TOP_CSV = "spend-top-csv"
TOP_DOWNLOAD = "spend-top-download"
BUDGETS = "spend-budgets"

BY_LABELS = {
    "model": "Model",
    "project": "Project",
    "key": "Key",
    "user": "User",
    "tag": "Tag",
    "provider": "Provider",
}
TOP_COLUMNS = tables.columns(
    [
        ("group", "Name"),
        ("cost_usd", "Spend"),
        ("share", "Share"),
        ("requests", "Requests"),
        ("prompt_tokens", "Prompt tokens"),
        ("completion_tokens", "Completion tokens"),
    ]
)
TOP_FORMATS = {
    "cost_usd": tables.money,
    "share": tables.ratio,
    "requests": tables.count,
    "prompt_tokens": tables.count,
    "completion_tokens": tables.count,
}


def _by(source: Mapping[str, Any] | str | None) -> str:
    return choice(params(source), "by", tuple(BY_LABELS), "model")


def layout(**query: Any) -> html.Div:
    by = _by(query)
    selector = segmented(BY, BY_LABELS, by)
    page = html.Div(
        [
            page_header("Spend", "Where the money goes, and how each budget is burning."),
            dbc.Row(dbc.Col(graph_card("Spend over time", OVER_TIME, controls=selector))),
            dbc.Row(
                [
                    dbc.Col(graph_card("Top 10", TOP_GRAPH), lg=5),
                    dbc.Col(
                        table_card(
                            "Top spenders",
                            data_table(TOP_TABLE, TOP_COLUMNS, page_size=10),
                            button_id=TOP_CSV,
                            download_id=TOP_DOWNLOAD,
                        ),
                        lg=7,
                    ),
                ],
                className="g-3",
            ),
            dbc.Row(
                dbc.Col(
                    graph_card(
                        "Budgets",
                        BUDGETS,
                        subtitle="spent so far (bar) and forecast for the period (◆)",
                    )
                )
            ),
            dbc.Row(dbc.Col(_spend_savings.section())),
        ],
        className="ss-stack",
    )
    return filled(page, DATA, query)


def with_share(df: pd.DataFrame, total: Any) -> pd.DataFrame:
    """Each row's share of ``total`` spend (None when nothing was spent)."""
    shares = pd.Series([float(c / total) if total else None for c in df["cost_usd"]], dtype=object)
    return df.assign(share=shares.set_axis(df.index))


def update_over_time(search: str | None, _tick: int | None) -> go.Figure:
    v = view(search)
    try:
        df = analytics.spend_over_time(v.engine, v.filters, _by(search), v.bucket)  # type: ignore[arg-type]
    except analytics.UnsupportedFilterError as exc:
        return figures.empty(f"{exc}.")
    return figures.spend_over_time(df, v.bucket, by=_by(search))


def top_frame(search: str | None, limit: int = 25) -> pd.DataFrame:
    """Top spenders with their share; models without a price are flagged, never a silent $0."""
    v = view(search)
    by = _by(search)
    df = analytics.top_spenders(v.engine, v.filters, by, limit)  # type: ignore[arg-type]
    stats = analytics.overview(v.engine, v.filters, v.now)
    unpriced = set(stats.unpriced_models) if by == "model" else set()
    df = df.assign(
        unpriced=[g in unpriced and not c for g, c in zip(df["group"], df["cost_usd"], strict=True)]
    )
    return with_share(df, stats.spend_in_range_usd)


def top_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    rows = tables.records(df, TOP_FORMATS)
    for row, unpriced in zip(rows, df["unpriced"], strict=True):
        if unpriced:
            row.update(cost_usd="unpriced", share="—")
    return rows


def update_top(search: str | None, _tick: int | None) -> tuple[go.Figure, list[Any]]:
    try:
        df = top_frame(search)
    except analytics.UnsupportedFilterError as exc:
        return figures.empty(f"{exc}."), []
    return figures.top_spenders(df.head(10)), top_records(df)


def download_top(_clicks: int | None, search: str | None) -> dict[str, Any]:
    return tables.csv_download(
        top_frame(search, limit=1000), f"top-{_by(search)}", view(search).now
    )


def update_budgets(search: str | None, _tick: int | None) -> go.Figure:
    v = view(search)
    return figures.budget_burn(analytics.budget_status(v.engine, v.now, v.settings.timezone))


DATA = (
    Data(((OVER_TIME, "figure"),), update_over_time),
    Data(((TOP_GRAPH, "figure"), (TOP_TABLE, "data")), update_top),
    Data(((BUDGETS, "figure"),), update_budgets),
    _spend_savings.DATA,
)


def set_by(by: str, search: str | None) -> str:
    return with_param(search, "by", None if by == "model" else by)


def register(app: dash.Dash) -> None:
    register_page(
        __name__, path=PATH, name="Spend", title="Spend · spendscope", order=1, layout=layout
    )
    register_data(app, DATA)
    _spend_savings.register(app)
    register_download(app, TOP_CSV, TOP_DOWNLOAD, download_top)
    register_url_param(app, BY, set_by)
