"""The look every figure shares, empty states, and helpers for series."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from collector.analytics import FAILED_SERIES, OTHER_SERIES
from dashboard import format as fmt
from dashboard.palette import OUTCOME_COLOURS, colour_for

NO_DATA_HINT = "No requests in this range — point your SDK at the gateway (see README)"
FONT = "Lato, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
OTHER = "Other"
MAX_SERIES = 8
LINE_SERIES = 6  # named lines on a chart; more read as spaghetti, so the rest are "other"
_HOUR_HOVER = "%a %b %d, %H:%M UTC"
_DAY_HOVER = "%a %b %d, %Y"


def _slim_template() -> go.layout.Template:
    white = pio.templates["plotly_white"]
    return go.layout.Template(layout=white.layout, data={t: white.data[t] for t in _TRACES})


_TRACES = ("scatter", "bar", "pie")  # every trace type drawn (plotly.js's basic bundle)
# plotly_white as it applies to the figures here: its layout and its defaults for the
# trace types drawn, not its defaults for ~25 others. Given at creation, it spares each
# figure two deep copies of a whole template (plotly's default, then plotly_white), ~40 %
# of building a figure, and ~4 KB of its JSON.
TEMPLATE = _slim_template()


def new_figure(*traces: Any) -> go.Figure:
    """An empty figure (or one of ``traces``) in the dashboard's template."""
    return go.Figure(list(traces) or None, layout={"template": TEMPLATE})


def _style(fig: go.Figure, *, height: int = 320, legend: bool = True) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 8, "r": 8, "t": 8, "b": 8},
        font={"family": FONT, "size": 13, "color": "#2c3e50"},
        hoverlabel={"font": {"family": FONT}},
        showlegend=legend,
        legend={"orientation": "h", "y": -0.15, "x": 0, "title": None},
        separators=".,",
    )
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(gridcolor="#ecf0f1", zerolinecolor="#dee2e6")
    return fig


def empty(message: str = NO_DATA_HINT, *, height: int = 320) -> go.Figure:
    """A blank chart carrying one sentence that says what to do next."""
    fig = new_figure()
    fig.add_annotation(
        text=message,
        showarrow=False,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        font={"size": 14, "color": "#7b8a8b"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, height=height, legend=False)


def money_axis_format(largest: Decimal | float) -> str:
    """A d3 tick format with enough decimals for the axis's largest value."""
    decimals = fmt.money_decimals(Decimal(str(largest)) / 4) if largest else 2
    return f"$,.{decimals}~f"


def _time_hover(bucket: str) -> str:
    return _HOUR_HOVER if bucket == "hour" else _DAY_HOVER


def _step(bucket: str) -> pd.Timedelta:
    return pd.Timedelta(hours=1) if bucket == "hour" else pd.Timedelta(days=1)


DAY_TICKS_UP_TO = 4  # days: one tick a day up to here (at most 5 labels)
# At most this many date labels otherwise: figures are built without knowing the chart's
# width, and six "Nov 23" labels fit level on a 390 px phone, where a tick a day for two
# weeks made plotly tilt the labels into each other. Plotly picks the step (days, weeks,
# months); with the range at least this many days, it never picks hours.
MAX_DATE_TICKS = 6


def time_axis(fig: go.Figure, stamps: pd.Series, bucket: str) -> go.Figure:
    """An x axis that reads well for one point, one day or a year of buckets.

    The range is the buckets' own span plus half a bucket each side (a lone point gets a
    whole bucket each side), so plotly never zooms into milliseconds around one value.
    Daily buckets are labelled by date, one tick a day when there are few, never by hour.
    """
    if stamps.empty:
        return fig
    lo, hi, step = pd.Timestamp(stamps.min()), pd.Timestamp(stamps.max()), _step(bucket)
    pad = step if lo == hi else step / 2
    fig.update_xaxes(type="date", range=[lo - pad, hi + pad], hoverformat=_time_hover(bucket))
    days = (hi - lo) / pd.Timedelta(days=1)
    if bucket == "day":
        fig.update_xaxes(tickformat="%b %d")
        if days <= DAY_TICKS_UP_TO:
            fig.update_xaxes(dtick=86_400_000, tick0=lo.normalize())
        else:
            fig.update_xaxes(nticks=MAX_DATE_TICKS)
    elif days <= 1:
        fig.update_xaxes(tickformat="%H:%M\n%b %d", nticks=MAX_DATE_TICKS)
    else:
        fig.update_xaxes(nticks=MAX_DATE_TICKS)
    return fig


def with_gaps(rows: pd.DataFrame, bucket: str) -> pd.DataFrame:
    """``rows`` (one series, sorted by ``ts``) with an empty row in each missing bucket, so a
    line breaks where there was no data instead of being drawn straight across it."""
    if len(rows) < 2:
        return rows
    full = pd.date_range(rows["ts"].min(), rows["ts"].max(), freq=_step(bucket))
    if len(full) == len(rows):
        return rows
    return rows.set_index("ts").reindex(full).rename_axis("ts").reset_index()


def money_stack(fig: go.Figure, totals: pd.Series, bucket: str, *, height: int = 320) -> go.Figure:
    """Bars stacked per time bucket, a money axis sized to the tallest stack, one hover."""
    fig.update_layout(barmode="stack", hovermode="x unified", bargap=0.15)
    time_axis(fig, pd.Series(totals.index), bucket)
    fig.update_yaxes(tickformat=money_axis_format(max(totals, default=0)), rangemode="tozero")
    return _style(fig, height=height, legend=True)


def fold_groups(df: pd.DataFrame, value: str, keep: int = MAX_SERIES) -> pd.DataFrame:
    """Keep the ``keep`` largest groups by total ``value``; fold the rest into "Other"."""
    totals = df.groupby("group")[value].sum().sort_values(ascending=False)
    if len(totals) <= keep:
        return df
    small = set(totals.index[keep - 1 :])
    out = df.copy()
    out["group"] = out["group"].where(~out["group"].isin(small), f"{OTHER} ({len(small)})")
    sums = {c: "sum" for c in out.columns if c not in ("ts", "group")}
    return out.groupby(["ts", "group"], as_index=False, sort=False).agg(sums)


def _group_order(df: pd.DataFrame, value: str) -> list[str]:
    totals = df.groupby("group", sort=False)[value].sum()
    return list(totals.sort_values(ascending=False).index)


Hover = Callable[[pd.DataFrame], Sequence[Sequence[str]]]


def series_lines(
    df: pd.DataFrame,
    y: str,
    bucket: str,
    *,
    series: str,
    template: str,
    hover: Hover = lambda _data: (),
    scale: float = 1.0,
) -> go.Figure | None:
    """One line per ``series`` value of ``y`` (divided by ``scale``), coloured by name.

    Rows without ``y`` are dropped; None when nothing is left (the caller says why).
    ``hover(data)`` gives pre-formatted text columns, ``customdata[i]`` in ``template``.
    """
    data = df.dropna(subset=[y])
    if data.empty:
        return None
    texts = {f"_h{i}": list(column) for i, column in enumerate(hover(data))}
    data = data.assign(**texts)
    fig = new_figure()
    for name in _series_order(data, series):
        rows = with_gaps(data[data[series] == name].sort_values("ts"), bucket)
        fig.add_scatter(
            x=rows["ts"],
            y=rows[y] / scale,
            name=str(name),
            mode="lines+markers",
            marker={"size": 5},
            line={"color": series_colour(str(name)), "width": 2},
            customdata=rows[list(texts)].to_numpy() if texts else None,
            hovertemplate=template + "<extra>%{fullData.name}</extra>",
            connectgaps=False,
        )
    fig.update_layout(hovermode="x unified")
    time_axis(fig, data["ts"], bucket)
    return _style(fig)


LAST_SERIES = (OTHER_SERIES, FAILED_SERIES)  # drawn after the named series, in this order
_SERIES_COLOURS = {OTHER_SERIES: "#bdc3c7", FAILED_SERIES: OUTCOME_COLOURS["upstream_error"]}


def series_colour(name: str) -> str:
    return _SERIES_COLOURS.get(name) or colour_for(name)


def _series_order(data: pd.DataFrame, series: str) -> list[Any]:
    names = sorted(n for n in data[series].unique() if n not in LAST_SERIES)
    return names + [n for n in LAST_SERIES if n in set(data[series])]


def outcome_colour(outcome: str) -> str:
    return OUTCOME_COLOURS.get(outcome, "#7b8a8b")


def _as_float(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def warm_up() -> None:
    """Build and serialise a styled bar-and-line figure once, off the request path.

    plotly.py imports and builds its validators, and reads the template, on first use: the
    first figure of a fresh process took ~260 ms, later ones ~50 ms (10 M requests, SQLite),
    so without this the first visitor after a start waits for it.
    """
    fig = new_figure()
    fig.add_bar(x=[0], y=[0.0], name="-", marker_color="#000000", customdata=[("-",)],
                hovertemplate="%{customdata[0]}<extra></extra>", text=["-"])  # fmt: skip
    fig.add_scatter(x=[0], y=[0.0], mode="lines+markers", marker={"size": 5},
                    line={"color": "#000000", "width": 2}, connectgaps=False)  # fmt: skip
    money_stack(fig, pd.Series([0.0]), "day")
    fig.add_annotation(text="-", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.to_plotly_json()
