"""Latency: request duration and time to first token by model, and output speed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dash
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import html

from collector import analytics
from dashboard import figures
from dashboard.components import graph_card, page_header, segmented
from dashboard.filters import choice, with_param
from dashboard.pages._common import (
    TAG_HINT,
    Data,
    filled,
    params,
    register_data,
    register_page,
    register_url_param,
    view,
)

PATH = "/latency"
PERCENTILE = "latency-percentile"
DURATION = "latency-duration"
TTFT = "latency-ttft"
SPEED = "latency-speed"

PERCENTILES = {"p50": "p50", "p95": "p95", "p99": "p99"}
# TTFT is tracked at p50 and p95 only; p99 shows p95 there (the subtitle says so).
_TTFT_COLUMN = {"p50": "ttft_p50_ms", "p95": "ttft_p95_ms", "p99": "ttft_p95_ms"}


def _pct(source: Mapping[str, Any] | str | None) -> str:
    return choice(params(source), "pct", tuple(PERCENTILES), "p95")


def layout(**query: Any) -> html.Div:
    pct = _pct(query)
    selector = segmented(PERCENTILE, PERCENTILES, pct)
    ttft_note = "streams only; p99 shows p95 (TTFT p99 is not tracked)"
    page = html.Div(
        [
            page_header("Latency", "How long requests take, per model."),
            dbc.Row(
                dbc.Col(
                    graph_card(
                        "Request duration",
                        DURATION,
                        controls=selector,
                        subtitle="whole request, by model",
                    )
                )
            ),
            dbc.Row(
                [
                    dbc.Col(graph_card("Time to first token", TTFT, subtitle=ttft_note), lg=6),
                    dbc.Col(
                        graph_card("Output speed", SPEED, subtitle="completion tokens per second"),
                        lg=6,
                    ),
                ],
                className="g-3",
            ),
        ],
        className="ss-stack",
    )
    return filled(page, DATA, query)


def update(search: str | None, _tick: int | None) -> tuple[go.Figure, go.Figure, go.Figure]:
    v = view(search)
    if v.filters.tags:
        hint = figures.empty(TAG_HINT.format(what="Latency"))
        return hint, hint, hint
    df = analytics.latency_over_time(v.engine, v.filters, v.bucket, top=figures.LINE_SERIES)
    pct = _pct(search)
    return (
        figures.latency_over_time(df, f"{pct}_ms", v.bucket),
        figures.latency_over_time(df, _TTFT_COLUMN[pct], v.bucket),
        figures.tokens_per_second(df, v.bucket),
    )


DATA = (Data(((DURATION, "figure"), (TTFT, "figure"), (SPEED, "figure")), update),)


def set_percentile(value: str, search: str | None) -> str:
    return with_param(search, "pct", None if value == "p95" else value)


def register(app: dash.Dash) -> None:
    register_page(
        __name__, path=PATH, name="Latency", title="Latency · spendscope", order=3, layout=layout
    )
    register_data(app, DATA)
    register_url_param(app, PERCENTILE, set_percentile)
