"""Figures are pure: stable colours, exact money in hover text, and helpful empty states."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pytest

from dashboard import figures
from dashboard.figures._base import MAX_DATE_TICKS
from dashboard.palette import NONE_COLOUR, colour_for

TS = pd.Timestamp(datetime(2026, 11, 1, 12, tzinfo=UTC))


def spend_frame(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(TS, g, Decimal(c), n, 0, 0) for g, c, n in rows],
        columns=["ts", "group", "cost_usd", "requests", "prompt_tokens", "completion_tokens"],
    )


def annotation_text(fig: object) -> str:
    return str(fig.layout.annotations[0].text)  # type: ignore[attr-defined]


def test_colours_are_stable_and_distinct_within_a_family() -> None:
    assert colour_for("gpt-4o-mini") == colour_for("gpt-4o-mini")
    assert colour_for("gpt-4o-mini") != colour_for("gpt-4o-mini-2024-07-18")
    assert colour_for("gpt-4o") != colour_for("gpt-4o-mini")
    assert colour_for("my-finetune").startswith("#") and len(colour_for("my-finetune")) == 7
    assert colour_for(None) == colour_for("(none)") == NONE_COLOUR


def test_spend_figure_uses_model_colours_and_exact_money_in_hover() -> None:
    df = spend_frame([("gpt-4o", "0.000027", 1), ("o3", "1.5", 3)])
    fig = figures.spend_over_time(df, "hour")
    names = [t.name for t in fig.data]
    assert names == ["o3", "gpt-4o"]  # largest at the bottom of the stack
    small = fig.data[1]
    assert small.marker.color == colour_for("gpt-4o")
    assert tuple(small.customdata[0]) == ("$0.000027", "1")
    assert fig.layout.barmode == "stack"


def test_empty_spend_says_what_to_do() -> None:
    fig = figures.spend_over_time(spend_frame([]), "day")
    assert fig.data == ()
    assert "point your SDK at the gateway" in annotation_text(fig)


def test_fold_groups_keeps_the_biggest_and_sums_the_rest() -> None:
    rows = [(f"user-{i}", str(i), 1) for i in range(1, 13)]
    folded = figures.fold_groups(spend_frame(rows), "cost_usd", keep=4)
    assert set(folded["group"]) == {"user-12", "user-11", "user-10", "Other (9)"}
    other = folded[folded["group"] == "Other (9)"]["cost_usd"].sum()
    assert other == sum(Decimal(i) for i in range(1, 10))


def test_money_axis_format_adds_decimals_for_tiny_totals() -> None:
    assert figures.money_axis_format(Decimal("12.5")) == "$,.2~f"
    assert figures.money_axis_format(Decimal("0.0004")) == "$,.6~f"


def test_error_budget_colours_overspent_red_and_handles_no_traffic() -> None:
    df = pd.DataFrame(
        {
            "project": ["a", "b"],
            "slo_target": [Decimal("0.995"), Decimal("0.99")],
            "window_days": [30, 30],
            "eligible": [1000, 0],
            "bad": [10, 0],
            "remaining": [-1.0, float("nan")],
            "burn_rate": [2.0, float("nan")],
        }
    )
    fig = figures.error_budget(df)
    bar = fig.data[0]
    assert list(bar.y) == ["b", "a"]
    assert list(bar.text) == ["no traffic", "-100% left"]
    assert bar.marker.color[1] == "#e74c3c"


def test_latency_without_streams_explains_the_empty_ttft_chart() -> None:
    df = pd.DataFrame(
        {"ts": [TS], "model": ["gpt-4o"], "requests": [3], "p95_ms": [900.0],
         "ttft_p95_ms": [float("nan")], "tokens_per_s": [50.0]}
    )  # fmt: skip
    assert [t.name for t in figures.latency_over_time(df, "p95_ms", "hour").data] == ["gpt-4o"]
    assert "streamed" in annotation_text(figures.latency_over_time(df, "ttft_p95_ms", "hour"))


def test_budget_burn_marks_forecast_and_overspend() -> None:
    df = pd.DataFrame(
        {"name": ["team"], "amount_usd": [Decimal("10")], "spent_usd": [Decimal("12")],
         "forecast_usd": [Decimal("20")], "period": ["month"], "mode": ["hard"]}
    )  # fmt: skip
    fig = figures.budget_burn(df)
    forecast = next(t for t in fig.data if t.name == "forecast")
    assert list(fig.data[0].x) == [1.2] and list(forecast.x) == [2.0]
    assert fig.data[0].marker.color[0] == "#e74c3c"
    assert fig.data[0].y[0] == "team<br>$12.00 of $10.00"


def test_savings_figure_stacks_kinds_with_exact_hover() -> None:
    df = pd.DataFrame(
        [
            (TS, "cache", "gpt-4o", None, 800, Decimal("0.002"), Decimal("0.001"),
             Decimal("0.001")),
            (TS, "batch", "gpt-4o", 2, 900, Decimal("0.000054"), Decimal("0.000027"),
             Decimal("0.000027")),
            (TS, "cache", "mystery", None, 500, None, None, None),
        ],
        columns=["ts", "kind", "model", "requests", "tokens", "list_usd", "paid_usd", "saved_usd"],
    )  # fmt: skip
    fig = figures.savings_over_time(df, "day")
    assert [t.name for t in fig.data] == ["cached tokens", "Batch API"]
    assert fig.data[1].customdata[0][0] == "$0.000027"  # sub-cent money keeps its digits
    assert fig.data[1].customdata[0][1] == "$0.000054"
    empty = figures.savings_over_time(df.iloc[2:], "day")
    assert "Batch API" in annotation_text(empty)


def test_a_runaway_forecast_is_clipped_and_labelled_and_the_legend_names_bar_colours() -> None:
    df = pd.DataFrame(
        {"name": ["a", "b"], "amount_usd": [Decimal("10"), Decimal("10")],
         "spent_usd": [Decimal("5"), Decimal("9")],
         "forecast_usd": [Decimal("120"), Decimal("9.5")], "period": ["month"] * 2,
         "mode": ["soft"] * 2}
    )  # fmt: skip
    fig = figures.budget_burn(df)
    top = fig.layout.xaxis.range[1]
    assert top <= 2.2  # 200 % and a margin, not 1,200 %
    forecast = next(t for t in fig.data if t.name == "forecast")
    assert max(forecast.x) < top and "1200% ▸" in forecast.text
    legend = {t.name: t.marker.color for t in fig.data[1:] if t.type == "bar"}
    assert set(legend.values()) == {"#18bc9c", "#f39c12", "#e74c3c"}
    assert set(fig.data[0].marker.color) <= set(legend.values())  # every bar's colour is named
    assert fig.data[0].showlegend is False


def test_errors_by_draws_level_labels_beside_horizontal_bars() -> None:
    df = pd.DataFrame(
        {"outcome": ["upstream_error", "client_error"],
         "error_type": ["insufficient_quota", "context_length_exceeded_by_a_very_long_name"],
         "http_status": [429, 400], "model": ["m", "m"], "requests": [3, 5]}
    )  # fmt: skip
    fig = figures.errors_by(df, "error_type")
    assert all(t.orientation == "h" for t in fig.data)
    labels = [y for t in fig.data for y in t.y]
    assert max(len(label) for label in labels) <= 28 and "insufficient_quota" in labels
    assert fig.layout.yaxis.categoryarray[-1].startswith("context_length")  # largest on top
    assert fig.layout.legend.y > 1 and fig.layout.yaxis.automargin


def _latency(rows: list[tuple[datetime, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(pd.Timestamp(t), m, 1, v, v, v, None, None, 10.0) for t, m, v in rows],
        columns=["ts", "model", "requests", "p50_ms", "p95_ms", "p99_ms", "ttft_p50_ms",
                 "ttft_p95_ms", "tokens_per_s"],
    )  # fmt: skip


def test_lines_break_where_buckets_have_no_data() -> None:
    day = datetime(2026, 11, 1, tzinfo=UTC)
    df = _latency([(day, "m", 100.0), (day.replace(day=2), "m", 110.0),
                   (day.replace(day=5), "m", 120.0)])  # fmt: skip
    [line] = figures.latency_over_time(df, "p95_ms", "day").data
    assert len(line.x) == 5 and [v is None or v != v for v in line.y] == [  # NaN: a gap
        False, False, True, True, False]  # fmt: skip


def test_one_point_gets_a_bucket_each_side_and_days_read_as_dates() -> None:
    at = datetime(2026, 12, 6, tzinfo=UTC)
    fig = figures.latency_over_time(_latency([(at, "m", 100.0)]), "p95_ms", "hour")
    lo, hi = (pd.Timestamp(v) for v in fig.layout.xaxis.range)
    assert (lo, hi) == (
        pd.Timestamp(at) - pd.Timedelta(hours=1),
        pd.Timestamp(at) + pd.Timedelta(hours=1),
    )
    spend = figures.spend_over_time(
        pd.DataFrame([(pd.Timestamp(at), "m", Decimal("1"), 1, 0, 0)],
                     columns=["ts", "group", "cost_usd", "requests", "prompt_tokens",
                              "completion_tokens"]), "day")  # fmt: skip
    assert spend.layout.xaxis.tickformat == "%b %d" and spend.layout.xaxis.dtick == 86_400_000
    year = _latency([(at - pd.Timedelta(days=d), "m", 1.0) for d in range(365)])
    long = figures.latency_over_time(year, "p95_ms", "day")
    assert long.layout.xaxis.tickformat == "%b %d" and long.layout.xaxis.dtick is None


@pytest.mark.parametrize(("days", "bucket"), [(6, "day"), (14, "day"), (365, "day"), (3, "hour")])
def test_date_axes_carry_few_enough_labels_for_a_phone(days: int, bucket: str) -> None:
    """A tick a day for two weeks tilted the labels into each other at 390 px: past a few
    days the axis asks for at most MAX_DATE_TICKS labels and plotly picks the step."""
    at = datetime(2026, 12, 6, tzinfo=UTC)
    step = pd.Timedelta(days=1) if bucket == "day" else pd.Timedelta(hours=1)
    count = days if bucket == "day" else days * 24
    series = _latency([(at - step * i, "m", 1.0) for i in range(count)])
    axis = figures.latency_over_time(series, "p95_ms", bucket).layout.xaxis
    assert axis.dtick is None and axis.nticks == MAX_DATE_TICKS


def test_a_few_days_keep_one_label_a_day() -> None:
    at = datetime(2026, 12, 6, tzinfo=UTC)
    series = _latency([(at - pd.Timedelta(days=i), "m", 1.0) for i in range(4)])
    axis = figures.latency_over_time(series, "p95_ms", "day").layout.xaxis
    assert axis.dtick == 86_400_000 and axis.nticks is None  # 5 labels at most


def test_failed_and_other_series_come_last_in_their_own_colours() -> None:
    df = _latency([(TS, "failed (no answer)", 9000.0), (TS, "other", 300.0), (TS, "b", 1.0),
                   (TS, "a", 2.0)])  # fmt: skip
    fig = figures.latency_over_time(df, "p95_ms", "hour")
    assert [t.name for t in fig.data] == ["a", "b", "other", "failed (no answer)"]
    assert fig.data[3].line.color == "#e74c3c" and fig.data[2].line.color == "#bdc3c7"
    assert "failed (no answer)" not in [t.name for t in figures.tokens_per_second(df, "hour").data]
