"""Reconciliation: OpenAI's own bill against what spendscope metered, per UTC day; the
largest differences with what they mean, and spend under keys the gateway never used."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import html

from collector import analytics
from collector.analytics._reconciliation import MAX_DAYS
from collector.reconcile import Reconciliation, ownership
from dashboard import figures, tables
from dashboard import format as fmt
from dashboard.components import data_table, graph_card, page_header, stat_card, table_card
from dashboard.pages._common import (
    Data,
    View,
    filled,
    register_data,
    register_download,
    register_page,
    view,
)

PATH = "/reconciliation"
STATS = "reconciliation-stats"
DAYS = "reconciliation-days"
DIFFS = "reconciliation-differences"
UNMETERED = "reconciliation-unmetered"
CSV = "reconciliation-csv"
DOWNLOAD = "reconciliation-download"

DIFF_COLUMNS = tables.columns(
    [("date", "Day"), ("group", "Model"), ("kind", "Kind"), ("billed_usd", "Billed"),
     ("metered_usd", "Metered"), ("difference_usd", "Difference"),
     ("explanation", "What it means")]
)  # fmt: skip
UNMETERED_COLUMNS = tables.columns(
    [("api_key_id", "OpenAI key"), ("project_id", "OpenAI project"), ("billed_usd", "Billed"),
     ("input_tokens", "Input tokens"), ("output_tokens", "Output tokens"),
     ("requests", "Requests"), ("days", "Days")]
)  # fmt: skip
MONEY = {"billed_usd": tables.money, "metered_usd": tables.money,
         "difference_usd": tables.money, "date": tables.day}  # fmt: skip
COUNTS = {"input_tokens": tables.count, "output_tokens": tables.count, "requests": tables.count}
WRAP = {"whiteSpace": "normal", "height": "auto", "textAlign": "left"}


def days_of(v: View) -> tuple[date, date]:
    """The UTC days the filter bar's range touches (at most ``MAX_DAYS``, the latest)."""
    last = (v.filters.end - timedelta(microseconds=1)).date()
    first = max(v.filters.start.date(), last - timedelta(days=MAX_DAYS - 1))
    return first, last


def current(search: str | None) -> Reconciliation:
    v = view(search)
    first, last = days_of(v)
    return analytics.reconciliation(v.engine, first, last, ownership(v.settings))


def _stats(rec: Reconciliation) -> list[Any]:
    t = rec.totals
    coverage = "—" if t.coverage is None else fmt.percent(float(t.coverage), 2)
    cards = [
        stat_card("Billed by OpenAI", fmt.money(t.billed_usd), "the Costs API, all keys"),
        stat_card("Metered", fmt.money(t.metered_usd), "recorded by spendscope"),
        stat_card("Coverage", coverage, f"difference {fmt.money(t.difference_usd)}"),
        stat_card("Unmetered", fmt.money(t.unmetered_usd), "keys the gateway never used"),
    ]
    return [dbc.Col(c, md=3) for c in cards]


def update(
    search: str | None, _tick: int | None
) -> tuple[list[Any], go.Figure, list[dict[str, Any]], list[dict[str, Any]]]:
    rec = current(search)
    return (
        _stats(rec),
        figures.billed_vs_metered(analytics.reconciliation_days(rec)),
        tables.records(analytics.largest_differences(rec), MONEY),
        tables.records(analytics.unmetered_spend(rec), {**MONEY, **COUNTS}),
    )


DATA = (
    Data(((STATS, "children"), (DAYS, "figure"), (DIFFS, "data"), (UNMETERED, "data")), update),
)


def layout(**query: Any) -> html.Div:
    style = {"style_cell": WRAP, "page_size": 20}
    page = html.Div(
        [
            page_header(
                "Reconciliation",
                "OpenAI's bill (Costs and Usage APIs, fetched by `spendscope reconcile` or the "
                "daily job) against what spendscope metered, per UTC day of the range. The "
                "project, key and model filters do not apply.",
            ),
            dbc.Row(id=STATS, className="g-3"),
            dbc.Row(dbc.Col(graph_card("Billed vs metered", DAYS, subtitle="USD per UTC day"))),
            dbc.Row(
                dbc.Col(
                    table_card(
                        "Largest differences",
                        data_table(DIFFS, DIFF_COLUMNS, **style),
                        button_id=CSV,
                        download_id=DOWNLOAD,
                        subtitle="every line in the CSV",
                    )
                )
            ),
            dbc.Row(
                dbc.Col(
                    html.Div(
                        [
                            html.H6("Unmetered spend by key and project"),
                            data_table(UNMETERED, UNMETERED_COLUMNS, page_size=20),
                        ],
                        className="ss-card p-3",
                    )
                )
            ),
        ],
        className="ss-stack",
    )
    return filled(page, DATA, query)


def download(_clicks: int | None, search: str | None) -> dict[str, Any]:
    rec = current(search)
    return tables.csv_download(
        analytics.reconciliation_lines(rec), "reconciliation", view(search).now
    )


def register(app: dash.Dash) -> None:
    register_page(
        __name__,
        path=PATH,
        name="Reconciliation",
        title="Reconciliation · spendscope",
        order=7,
        layout=layout,
    )
    register_data(app, DATA)
    register_download(app, CSV, DOWNLOAD, download)
