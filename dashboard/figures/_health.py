"""Reliability figures: error budget, burn rate, retries, errors."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard import format as fmt
from dashboard.figures._base import (
    _as_float,
    _style,
    empty,
    new_figure,
    outcome_colour,
    series_lines,
)
from dashboard.palette import OUTCOME_COLOURS


def _budget_colour(remaining: float | None) -> str:
    if remaining is None:
        return "#bdc3c7"
    if remaining < 0:
        return OUTCOME_COLOURS["upstream_error"]
    return "#f39c12" if remaining < 0.25 else OUTCOME_COLOURS["success"]


def error_budget(df: pd.DataFrame) -> go.Figure:
    """Remaining error budget per project over its SLO window (below 0: overspent)."""
    data = df.iloc[::-1]
    remaining = [_as_float(r) for r in data["remaining"]]
    if all(r is None for r in remaining):
        return empty("No eligible requests in any project's SLO window yet")
    fig = new_figure(
        go.Bar(
            x=[r if r is not None else 0 for r in remaining],
            y=list(data["project"]),
            orientation="h",
            marker_color=[_budget_colour(r) for r in remaining],
            text=[
                f"{fmt.percent(r, 0)} left" if r is not None else "no traffic" for r in remaining
            ],
            textposition="auto",
            customdata=_budget_hover(data),
            hovertemplate="<b>%{y}</b> · SLO %{customdata[0]} over %{customdata[1]} days"
            "<br>%{customdata[3]} bad of %{customdata[2]} eligible"
            "<br>burn rate %{customdata[4]}<extra></extra>",
        )
    )
    fig.add_vline(x=0, line_color="#7b8a8b", line_width=1)
    low = min([-0.1, *(r for r in remaining if r is not None)])
    fig.update_xaxes(tickformat=".0%", range=[low * 1.05, 1.02])
    fig.update_yaxes(automargin=True)
    return _style(fig, height=max(200, 40 * len(data) + 60), legend=False)


def _budget_hover(data: pd.DataFrame) -> list[tuple[str, ...]]:
    columns = ("slo_target", "window_days", "eligible", "bad", "burn_rate")
    return [
        (fmt.percent(float(t), 2), str(w), fmt.count(e), fmt.count(b), _burn_text(br))
        for t, w, e, b, br in zip(*(data[c] for c in columns), strict=True)
    ]


def _burn_text(rate: Any) -> str:
    value = _as_float(rate)
    return fmt.MISSING if value is None else f"{value:.2f}×"


def _burn_hover(data: pd.DataFrame) -> list[list[str]]:
    bad = zip(data["bad"], data["eligible"], strict=True)
    return [
        [_burn_text(v) for v in data["burn_rate"]],
        [f"{fmt.count(b)} bad / {fmt.count(e)}" for b, e in bad],
    ]


def burn_rate_over_time(df: pd.DataFrame, bucket: str) -> go.Figure:
    """Burn rate per project; 1× spends the budget exactly over the SLO window."""
    template = "%{customdata[0]} (%{customdata[1]})"
    fig = series_lines(
        df, "burn_rate", bucket, series="project", hover=_burn_hover, template=template
    )
    if fig is None:
        return empty("No eligible requests in this range")
    fig.add_hline(y=1, line_dash="dash", line_color="#7b8a8b", annotation_text="1× (on budget)")
    fig.update_yaxes(rangemode="tozero", ticksuffix="×")
    return fig


def _retry_hover(data: pd.DataFrame) -> list[list[str]]:
    rescued = zip(data["rescued"], data["retried"], strict=True)
    return [
        [f"{fmt.count(r)} of {fmt.count(t)}" for r, t in rescued],
        [fmt.money(c) for c in data["failed_attempt_cost_usd"]],
    ]


def retry_success_over_time(df: pd.DataFrame, bucket: str) -> go.Figure:
    """Share of retried requests that finally succeeded, per project."""
    template = "%{y:.1%} rescued (%{customdata[0]}) · failed tries cost %{customdata[1]}"
    fig = series_lines(
        df, "retry_success_rate", bucket, series="project", hover=_retry_hover, template=template
    )
    if fig is None:
        return empty("No request needed a retry in this range")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return fig


def attempts_per_success(df: pd.DataFrame, bucket: str) -> go.Figure:
    """Upstream attempts spent per successful request (1.0 when nothing is retried)."""
    fig = series_lines(
        df, "attempts_per_success", bucket, series="project",
        hover=lambda data: [[fmt.count(n) for n in data["requests"]]],
        template="%{y:.2f} attempts per success · %{customdata[0]} requests",
    )  # fmt: skip
    if fig is None:
        return empty()
    fig.update_yaxes(rangemode="tozero")
    return fig


LABEL_CHARS = 28  # a category label longer than this is cut (the hover has it whole)


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def errors_by(df: pd.DataFrame, dimension: str) -> go.Figure:
    """Failed requests by ``dimension`` (error_type, http_status or model), stacked by outcome.

    Horizontal bars, largest on top: category names read level at any width and never run
    into the legend, which sits above the chart.
    """
    if df.empty:
        return empty("No failed requests in this range")
    data = df.assign(_d=df[dimension].astype("string").fillna("(unknown)"))
    order = list(data.groupby("_d")["requests"].sum().sort_values(ascending=True).index)
    fig = new_figure()
    for outcome in sorted(data["outcome"].unique()):
        rows = data[data["outcome"] == outcome].groupby("_d", as_index=False)["requests"].sum()
        fig.add_bar(
            y=[_short(str(d)) for d in rows["_d"]],
            x=list(rows["requests"]),
            orientation="h",
            name=outcome.replace("_", " "),
            marker_color=outcome_colour(outcome),
            customdata=list(rows["_d"]),
            hovertemplate="%{customdata}: %{x:,} requests<extra>%{fullData.name}</extra>",
        )
    fig.update_layout(barmode="stack")
    categories = [_short(str(d)) for d in order]
    fig.update_yaxes(categoryorder="array", categoryarray=categories, type="category",
                     automargin=True)  # fmt: skip
    fig.update_xaxes(rangemode="tozero", tickformat=",d")
    _style(fig, height=max(220, 30 * len(order) + 90))
    fig.update_layout(legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0})
    fig.update_layout(margin={"t": 36})
    return fig
