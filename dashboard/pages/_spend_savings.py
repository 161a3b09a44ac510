"""The Spend page's savings: cached tokens, batch / flex and the response cache, with a CSV."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go
from dash import html

from collector import analytics
from dashboard import figures, tables
from dashboard import format as fmt
from dashboard.components import card, csv_button, data_table, graph
from dashboard.figures import KIND_LABELS
from dashboard.pages._common import Data, register_download, view

GRAPH = "spend-savings-graph"
TOTALS = "spend-savings-totals"
TABLE = "spend-savings-table"
CSV = "spend-savings-csv"
DOWNLOAD = "spend-savings-download"

BY_MODEL = ("kind", "model")
SUMS = ["requests", "tokens", "list_usd", "paid_usd", "saved_usd"]
COLUMNS = tables.columns(
    [
        ("kind", "From"),
        ("model", "Model"),
        ("tokens", "Tokens"),
        ("requests", "Requests"),
        ("list_usd", "At list price"),
        ("paid_usd", "Paid"),
        ("saved_usd", "Saved"),
    ]
)
FORMATS = {
    "kind": lambda k: KIND_LABELS.get(str(k), str(k)),
    "tokens": tables.count,
    "requests": tables.count,
    "list_usd": tables.money,
    "paid_usd": tables.money,
    "saved_usd": tables.money,
}


def section() -> dbc.Card:
    """Totals per kind over the chart, and the per-model table under it."""
    table = data_table(TABLE, COLUMNS, page_size=8, sort_action="native")
    return card(
        "Savings",
        [html.Div(id=TOTALS, className="ss-savings-totals"), graph(GRAPH, height=280), table],
        controls=csv_button(CSV, DOWNLOAD),
        subtitle="cached prompt tokens at the cached rate, Batch API / flex requests at "
        "their discounted rates, against standard list prices, and answers replayed by the "
        "response cache at the cost of the original",
    )


def _sum_or_none(values: pd.Series) -> Any:
    """Exact sum; None when any part is unknown (a model without a price, cache requests)."""
    return None if values.isna().any() else values.sum()


def by_model(df: pd.DataFrame) -> pd.DataFrame:
    """Per kind and model over the whole range, biggest saving first (unpriced last)."""
    if df.empty:
        return pd.DataFrame(columns=[*BY_MODEL, *SUMS])
    out = df.groupby(list(BY_MODEL), as_index=False, sort=False).agg(
        {c: _sum_or_none for c in SUMS}
    )
    cache = out["kind"] == "cache"
    out["requests"] = out["requests"].astype(object).where(~cache, None)
    known = out["saved_usd"].notna()
    return pd.concat(
        [out[known].sort_values("saved_usd", ascending=False), out[~known]], ignore_index=True
    )


def totals(df: pd.DataFrame) -> list[Any]:
    """One line: total saved and per kind; models without a price named, not summed."""
    priced = figures.priced_savings(df)
    if priced.empty:
        return []
    per_kind = priced.groupby("kind")["saved_usd"].sum()
    parts: list[Any] = [
        html.Span(fmt.money(per_kind.sum()), className="ss-savings-total"),
        " saved",
    ]
    for kind, label in KIND_LABELS.items():
        if kind in per_kind.index:
            parts.append(html.Span(f"{label} {fmt.money(per_kind[kind])}", className="ss-chip"))
    unpriced = sorted(set(df.loc[df["saved_usd"].isna(), "model"]))
    if unpriced:
        parts.append(html.Small(f"not counted (no price): {', '.join(unpriced)}",
                                className="text-muted ms-2"))  # fmt: skip
    return parts


def frame(search: str | None) -> pd.DataFrame:
    v = view(search)
    return analytics.savings(v.engine, v.filters, v.bucket)


def update(search: str | None, _tick: int | None) -> tuple[go.Figure, list[Any], list[Any]]:
    v = view(search)
    try:
        df = analytics.savings(v.engine, v.filters, v.bucket)
    except analytics.UnsupportedFilterError as exc:
        return figures.empty(f"{exc}."), [], []
    return (
        figures.savings_over_time(df, v.bucket),
        totals(df),
        tables.records(by_model(df), FORMATS),
    )


# drawn and re-read with the rest of the Spend page (its ``DATA``)
DATA = Data(((GRAPH, "figure"), (TOTALS, "children"), (TABLE, "data")), update)


def download(_clicks: int | None, search: str | None) -> Any:
    """The savings rows as CSV; nothing under a tag filter (the chart says why)."""
    try:
        df = frame(search)
    except analytics.UnsupportedFilterError:
        return dash.no_update
    return tables.csv_download(df, "savings", view(search).now)


def register(app: dash.Dash) -> None:
    register_download(app, CSV, DOWNLOAD, download)
