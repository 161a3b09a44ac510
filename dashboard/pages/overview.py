"""Overview: today's and this month's spend against budget, and the health of the traffic."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import dash
import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go
from dash import html

from collector import analytics
from dashboard import figures
from dashboard import format as fmt
from dashboard.components import graph_card, page_header, stat_card
from dashboard.pages._common import TAG_HINT, Data, filled, register_data, register_page, view

PATH = "/"
CARDS = "overview-cards"
SPEND = "overview-spend"
LATENCY = "overview-latency"
UNPRICED = "overview-unpriced"


def layout(**query: Any) -> html.Div:
    page = html.Div(
        [
            page_header("Overview", "Spend against budget, and how healthy the traffic is."),
            html.Div(id=CARDS, className="ss-cards"),
            dbc.Row(
                [
                    dbc.Col(graph_card("Spend by model", SPEND), lg=7),
                    dbc.Col(
                        graph_card("p95 latency by model", LATENCY, subtitle="whole request"),
                        lg=5,
                    ),
                ],
                className="g-3",
            ),
        ]
    )
    return filled(page, DATA, query)


def linear_forecast(spent: Decimal, start: datetime, end: datetime, now: datetime) -> Decimal:
    """Spend at ``end`` if the rate since ``start`` holds."""
    elapsed = (now - start).total_seconds()
    if elapsed <= 0 or now >= end:
        return spent
    return spent * Decimal((end - start).total_seconds()) / Decimal(elapsed)


def _global_budget(budgets: pd.DataFrame, periods: tuple[str, ...]) -> dict[str, Any] | None:
    rows = budgets[(budgets["scope_kind"] == "global") & budgets["period"].isin(periods)]
    return None if rows.empty else dict(rows.iloc[0])


def _month_card(stats: analytics.OverviewStats, budgets: pd.DataFrame, now: datetime) -> Any:
    spent = stats.spend_month_to_date_usd
    budget = _global_budget(budgets, ("month", "monthly"))
    if budget is None:
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
        forecast = fmt.money_compact(linear_forecast(spent, start, end, now))
        return stat_card(
            "Month to date", fmt.money(spent), f"forecast {forecast} · no monthly budget"
        )
    amount, forecast = budget["amount_usd"], budget["forecast_usd"]
    tone = "text-danger" if forecast > amount else ""
    detail: Any = [
        f"of {fmt.money_compact(amount)} budget ({fmt.percent(spent / amount, 0)})",
        html.Br(),
        html.Span(f"forecast {fmt.money_compact(forecast)}", className=tone),
    ]
    return stat_card("Month to date", fmt.money(spent), detail)


def _today_card(stats: analytics.OverviewStats, budgets: pd.DataFrame) -> Any:
    spent = stats.spend_today_usd
    budget = _global_budget(budgets, ("day", "daily"))
    detail = "since 00:00 UTC"
    if budget is not None:
        detail = f"of {fmt.money_compact(budget['amount_usd'])} daily budget"
    return stat_card("Spend today", fmt.money(spent), detail)


def _unpriced_card(stats: analytics.OverviewStats) -> Any:
    count = stats.unpriced_requests or 0
    if not count:
        return stat_card("Unpriced requests", "0", "every request has a price")
    models = [html.Li(m) for m in stats.unpriced_models] or [html.Li("(unknown model)")]
    return html.Div(
        [
            stat_card(
                "Unpriced requests",
                fmt.count(count),
                "click to see which models",
                card_id=UNPRICED,
                tone="text-warning",
            ),
            dbc.Popover(
                [
                    dbc.PopoverHeader("Models without a price"),
                    dbc.PopoverBody([html.Ul(models, className="mb-1"), _PRICE_HINT]),
                ],
                target=UNPRICED,
                trigger="legacy",
                placement="bottom",
            ),
        ],
        className="ss-clickable h-100",
    )


_PRICE_HINT = html.Small("Add a price override for them; their cost is not counted until then.")


def _ratio_tone(value: float | None, bad_above: float) -> str:
    return "text-danger" if value is not None and value > bad_above else ""


def overview_cards(stats: analytics.OverviewStats, budgets: pd.DataFrame, now: datetime) -> Any:
    """The headline cards (pure: values in, components out)."""
    budget_left = stats.error_budget_remaining
    cards = [
        _today_card(stats, budgets),
        _month_card(stats, budgets, now),
        stat_card(
            "Requests", fmt.count(stats.requests), f"{fmt.money(stats.spend_in_range_usd)} in range"
        ),
        stat_card(
            "Error rate",
            fmt.percent(stats.error_rate, 2),
            "of requests did not succeed",
            tone=_ratio_tone(stats.error_rate, 0.05),
        ),
        stat_card("p95 latency", fmt.duration_ms(stats.p95_latency_ms), "whole request"),
        stat_card(
            "Error budget left",
            fmt.percent(budget_left, 0),
            "in range, against each SLO",
            tone="text-danger" if budget_left is not None and budget_left < 0 else "",
        ),
        stat_card(
            "Retry success",
            fmt.percent(stats.retry_success_rate, 0),
            "of retried requests succeeded in the end",
        ),
        _unpriced_card(stats),
    ]
    return dbc.Row([dbc.Col(c, xs=12, sm=6, lg=3) for c in cards], className="g-3")


def update_cards(search: str | None, _tick: int | None) -> Any:
    v = view(search)
    stats = analytics.overview(v.engine, v.filters, v.now)
    budgets = analytics.budget_status(v.engine, v.now, v.settings.timezone)
    return overview_cards(stats, budgets, v.now)


def update_spend(search: str | None, _tick: int | None) -> go.Figure:
    v = view(search)
    df = analytics.spend_over_time(v.engine, v.filters, "model", v.bucket)
    return figures.spend_over_time(df, v.bucket)


def update_latency(search: str | None, _tick: int | None) -> go.Figure:
    v = view(search)
    if v.filters.tags:
        return figures.empty(TAG_HINT.format(what="Latency"))
    df = analytics.latency_over_time(v.engine, v.filters, v.bucket, top=figures.LINE_SERIES)
    return figures.latency_over_time(df, "p95_ms", v.bucket)


DATA = (
    Data(((CARDS, "children"),), update_cards),
    Data(((SPEND, "figure"),), update_spend),
    Data(((LATENCY, "figure"),), update_latency),
)


def register(app: dash.Dash) -> None:
    register_page(__name__, path=PATH, name="Overview", title="spendscope", order=0, layout=layout)
    register_data(app, DATA)
