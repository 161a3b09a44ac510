"""Spend, budgets, latency and speed figures."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from collector.analytics import FAILED_SERIES
from dashboard import format as fmt
from dashboard.figures._base import (
    NO_DATA_HINT,
    OTHER,
    _group_order,
    _style,
    empty,
    fold_groups,
    money_axis_format,
    money_stack,
    new_figure,
    series_lines,
)
from dashboard.palette import OUTCOME_COLOURS, colour_for


def spend_over_time(df: pd.DataFrame, bucket: str, *, by: str = "model") -> go.Figure:
    """Stacked cost per bucket and group (largest group at the bottom)."""
    if df.empty or not df["requests"].sum():
        return empty()
    data = fold_groups(df, "cost_usd")
    fig = new_figure()
    for group in _group_order(data, "cost_usd"):
        rows = data[data["group"] == group]
        colour = colour_for(group) if not group.startswith(OTHER) else "#bdc3c7"
        fig.add_bar(
            x=rows["ts"],
            y=[float(c) for c in rows["cost_usd"]],
            name=group,
            marker_color=colour,
            customdata=[
                (fmt.money(c), fmt.count(n))
                for c, n in zip(rows["cost_usd"], rows["requests"], strict=True)
            ],
            hovertemplate="%{customdata[0]} · %{customdata[1]} requests"
            "<extra>%{fullData.name}</extra>",
        )
    totals = data.groupby("ts")["cost_usd"].sum()
    return money_stack(fig, totals, bucket)


def top_spenders(df: pd.DataFrame) -> go.Figure:
    """Horizontal bars, biggest spender on top, each labelled with its exact cost."""
    if df.empty:
        return empty()
    data = df.iloc[::-1]
    fig = new_figure(
        go.Bar(
            x=[float(c) for c in data["cost_usd"]],
            y=list(data["group"]),
            orientation="h",
            marker_color=[colour_for(g) for g in data["group"]],
            text=[fmt.money(c) for c in data["cost_usd"]],
            textposition="auto",
            customdata=[
                (fmt.money(c), fmt.count(n), fmt.count(p + o))
                for c, n, p, o in zip(
                    data["cost_usd"],
                    data["requests"],
                    data["prompt_tokens"],
                    data["completion_tokens"],
                    strict=True,
                )
            ],
            hovertemplate="<b>%{y}</b><br>%{customdata[0]} over %{customdata[1]} requests"
            "<br>%{customdata[2]} tokens<extra></extra>",
        )
    )
    fig.update_xaxes(tickformat=money_axis_format(max(df["cost_usd"], default=0)))
    fig.update_yaxes(automargin=True)
    return _style(fig, height=max(220, 36 * len(df) + 60), legend=False)


def latency_over_time(df: pd.DataFrame, column: str, bucket: str) -> go.Figure:
    """A latency percentile column (ms) over time, one line per model."""
    seconds = bool(df[column].max() >= 2000)  # "8 s" reads better than "8k ms"
    fig = series_lines(
        df, column, bucket, series="model", scale=1000 if seconds else 1,
        hover=lambda data: [
            [fmt.duration_ms(v) for v in data[column]],
            [fmt.count(n) for n in data["requests"]],
        ],
        template="%{customdata[0]} · %{customdata[1]} requests",
    )  # fmt: skip
    if fig is None:
        hint = "No streamed requests in this range" if column.startswith("ttft") else None
        return empty(hint or NO_DATA_HINT)
    fig.update_yaxes(ticksuffix=" s" if seconds else " ms", rangemode="tozero")
    return fig


def tokens_per_second(df: pd.DataFrame, bucket: str) -> go.Figure:
    """Output tokens per second of request time, one line per model."""
    answered = df[df["model"] != FAILED_SERIES]
    fig = series_lines(
        answered, "tokens_per_s", bucket, series="model", template="%{customdata[0]}",
        hover=lambda data: [[fmt.rate(v, "tok/s") for v in data["tokens_per_s"]]],
    )  # fmt: skip
    if fig is None:
        return empty()
    fig.update_yaxes(rangemode="tozero", ticksuffix=" tok/s")
    return fig


def _used_colour(used: float) -> str:
    if used >= 1:
        return OUTCOME_COLOURS["upstream_error"]
    return "#f39c12" if used >= 0.8 else OUTCOME_COLOURS["success"]


def _burn_values(
    data: pd.DataFrame,
) -> tuple[list[float], list[float], list[tuple[str, str, str, str]]]:
    """Spent and forecast as shares of each amount, and the hover text."""
    amounts = [Decimal(a) for a in data["amount_usd"]]
    spent, forecast = list(data["spent_usd"]), list(data["forecast_usd"])
    used = [float(s / a) if a else 0.0 for s, a in zip(spent, amounts, strict=True)]
    ahead = [float(f / a) if a else 0.0 for f, a in zip(forecast, amounts, strict=True)]
    periods = zip(spent, amounts, forecast, data["period"], data["mode"], strict=True)
    hover = [(fmt.money(s), fmt.money(a), fmt.money(f), f"{p} · {m}") for s, a, f, p, m in periods]
    return used, ahead, hover


BURN_AXIS_MAX = 2.0  # 200 %: a forecast beyond is drawn at the edge, labelled with its value
_USED_LEGEND = (("spent, under 80 %", 0.0), ("spent, 80–100 %", 0.8), ("spent, over 100 %", 1.0))


def budget_burn(df: pd.DataFrame) -> go.Figure:
    """Each budget's spend so far (bar) and forecast (◆) as a share of its amount.

    The axis stops at ``BURN_AXIS_MAX`` (or the largest spend): one runaway forecast would
    otherwise squash every bar; it is drawn at the edge with its value written beside it.
    The bars' colour says how much is used, and the legend names those colours.
    """
    if df.empty:
        return empty("No budgets yet — add one to track spend against a limit")
    data = df.iloc[::-1]
    used, ahead, hover = _burn_values(data)
    labels = [f"{n} · {h[0]} of {h[1]}" for n, h in zip(data["name"], hover, strict=True)]
    top = max(1.1, min(max(*used, *ahead, 0.0), BURN_AXIS_MAX), *used) * 1.05
    fig = new_figure()
    fig.add_bar(
        x=used, y=labels, orientation="h", showlegend=False,
        marker_color=[_used_colour(u) for u in used], customdata=hover,
        hovertemplate="<b>%{y}</b> (%{customdata[3]})<br>spent %{customdata[0]} of "
        "%{customdata[1]}<br>forecast %{customdata[2]}<extra></extra>",
    )  # fmt: skip
    for name, share in _USED_LEGEND:
        fig.add_bar(x=[None], y=[labels[0]], orientation="h", name=name,
                    marker_color=_used_colour(share), hoverinfo="skip")  # fmt: skip
    clipped = [a > top for a in ahead]
    fig.add_scatter(
        x=[min(a, top * 0.985) for a in ahead], y=labels, name="forecast",
        mode="markers+text", textposition="middle left",
        text=[f"{a:.0%} ▸" if c else "" for a, c in zip(ahead, clipped, strict=True)],
        marker={"symbol": ["triangle-right" if c else "diamond" for c in clipped], "size": 11,
                "color": "#2c3e50"},
        customdata=hover,
        hovertemplate="<b>%{y}</b><br>forecast %{customdata[2]} of %{customdata[1]}<extra></extra>",
    )  # fmt: skip
    fig.add_vline(x=1, line_dash="dash", line_color="#e74c3c")
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(tickformat=".0%", range=[0, top])
    fig.update_yaxes(automargin=True)
    return _style(fig, height=max(200, 44 * len(data) + 80))


def budget_burndown(
    df: pd.DataFrame, *, amount: Decimal, forecast: Decimal, period_end: Any
) -> go.Figure:
    """One budget's cumulative spend by day, its limit, and the path to the forecast."""
    if df.empty:
        return empty("Pick a budget to see how its period is going")
    cumulative = [float(c) for c in df["cumulative_usd"]]
    fig = new_figure()
    fig.add_scatter(
        x=df["ts"], y=cumulative, name="spent so far", mode="lines+markers",
        line={"color": "#2c3e50", "width": 2.5}, fill="tozeroy", fillcolor="rgba(44,62,80,0.08)",
        customdata=[
            (fmt.money(c), fmt.money(s))
            for c, s in zip(df["cumulative_usd"], df["spent_usd"], strict=True)
        ],
        hovertemplate="%{customdata[0]} so far (%{customdata[1]} that day)<extra></extra>",
    )  # fmt: skip
    last = df["ts"].iloc[-1]
    fig.add_scatter(
        x=[last, period_end], y=[cumulative[-1], float(forecast)], name="forecast",
        mode="lines", line={"color": "#7b8a8b", "dash": "dot"},
        hovertemplate=f"forecast {fmt.money(forecast)} at period end<extra></extra>",
    )  # fmt: skip
    fig.add_hline(
        y=float(amount), line_dash="dash", line_color="#e74c3c",
        annotation_text=f"limit {fmt.money_compact(amount)}", annotation_position="top left",
    )  # fmt: skip
    top = max(float(amount), float(forecast), *cumulative)
    fig.update_yaxes(tickformat=money_axis_format(top), range=[0, top * 1.12])
    fig.update_xaxes(hoverformat="%a %b %d", range=[df["ts"].iloc[0], period_end])
    fig.update_layout(hovermode="x unified")
    return _style(fig)
