"""Figures are pure: stable colours, exact money in hover text, and helpful empty states."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd

from dashboard import figures
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
    assert list(fig.data[0].x) == [1.2] and list(fig.data[1].x) == [2.0]
    assert fig.data[0].marker.color[0] == "#e74c3c"
    assert fig.data[0].y[0] == "team · $12.00 of $10.00"


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
