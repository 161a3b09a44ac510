"""What cached tokens, the Batch API / flex tier and the response cache saved, over time."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard import format as fmt
from dashboard.figures._base import empty, money_stack, new_figure

SAVINGS_HINT = (
    "No savings in this range — repeated prompt prefixes (≥ 1,024 tokens) are cached "
    "automatically; send work that can wait through the Batch API or service_tier=flex; "
    "turn on the gateway's response cache for repeated deterministic requests"
)
KIND_LABELS = {
    "cache": "cached tokens",
    "batch": "Batch API",
    "flex": "flex tier",
    "response_cache": "response cache",
}
KIND_COLOURS = {
    "cache": "#18bc9c",
    "batch": "#3498db",
    "flex": "#8e44ad",
    "response_cache": "#f39c12",
}


def priced_savings(df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose saving is known (models without a price are reported, not summed)."""
    return df[df["saved_usd"].notna()] if not df.empty else df


def savings_over_time(df: pd.DataFrame, bucket: str) -> go.Figure:
    """Money saved per bucket, stacked by kind; hover says what it was and what it spared."""
    data = priced_savings(df)
    if data.empty or not any(data["saved_usd"]):
        return empty(SAVINGS_HINT)
    fig = new_figure()
    for kind, label in KIND_LABELS.items():
        rows = data[data["kind"] == kind]
        if rows.empty:
            continue
        sums = rows.groupby("ts", as_index=False)[["saved_usd", "list_usd", "tokens"]].sum()
        fig.add_bar(
            x=sums["ts"],
            y=[float(s) for s in sums["saved_usd"]],
            name=label,
            marker_color=KIND_COLOURS[kind],
            customdata=[
                (fmt.money(s), fmt.money(full), fmt.count_compact(n))
                for s, full, n in zip(
                    sums["saved_usd"], sums["list_usd"], sums["tokens"], strict=True
                )
            ],
            hovertemplate="%{customdata[0]} saved of %{customdata[1]} at list price"
            " · %{customdata[2]} tokens<extra>%{fullData.name}</extra>",
        )
    totals = data.groupby("ts")["saved_usd"].sum()
    return money_stack(fig, totals, bucket, height=280)
