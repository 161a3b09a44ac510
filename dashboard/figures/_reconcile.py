"""Reconciliation figure: OpenAI's bill against spendscope's record, per UTC day."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard import format as fmt
from dashboard.figures._base import _as_float, _style, empty, new_figure

BILLED, METERED, UNMETERED = "#2c3e50", "#18bc9c", "#e67e22"


def billed_vs_metered(df: pd.DataFrame) -> go.Figure:
    """Billed (the bill's own traffic), metered and unmetered dollars side by side per day."""
    if df.empty or (not any(df["billed_usd"]) and not any(df["metered_usd"])):
        return empty("No bill fetched for these days — run `spendscope reconcile`")
    days = list(df["date"])
    own = [b - u for b, u in zip(df["billed_usd"], df["unmetered_usd"], strict=True)]
    bars = (
        ("billed (gateway keys)", own, BILLED),
        ("metered", list(df["metered_usd"]), METERED),
        ("unmetered (other keys)", list(df["unmetered_usd"]), UNMETERED),
    )
    traces = [
        go.Bar(x=days, y=[_as_float(v) for v in values], name=name, marker_color=colour,
               text=[fmt.money(v) for v in values], textposition="none",
               hovertemplate=f"{name}: %{{text}}<extra>%{{x}}</extra>")
        for name, values, colour in bars
    ]  # fmt: skip
    fig = new_figure(*traces)
    fig.update_layout(barmode="group")
    return _style(fig)
