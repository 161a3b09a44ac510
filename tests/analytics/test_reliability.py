"""Latency percentiles, error budget, burn rate and retries, exact on both databases."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pandas as pd
import pytest
from sqlalchemy import Engine

from collector.analytics import (
    Filters,
    UnsupportedFilterError,
    error_budget_by_project,
    errors_breakdown,
    latency_over_time,
    reliability,
)
from tests.analytics.conftest import NOV1_13, Seeded

WHOLE = Filters(datetime(2026, 10, 31, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
NOW = datetime(2026, 11, 2, 0, 30, tzinfo=UTC)


def test_latency_percentiles_come_from_summed_buckets(engine: Engine, seeded: Seeded) -> None:
    df = latency_over_time(engine, Filters(NOV1_13, NOV1_13 + timedelta(hours=1)), "hour")
    row = df[df["model"] == "gpt-4o"].iloc[0]
    assert row["requests"] == 199
    # 199 requests of 120 ms all in the (100, 150] bucket: linear within it
    assert (row["p50_ms"], row["p95_ms"], row["p99_ms"]) == (125.0, 147.5, 149.5)
    # 198 streams with TTFT 40 ms in (25, 50]
    assert (row["ttft_p50_ms"], row["ttft_p95_ms"]) == (37.5, 48.75)
    assert row["tokens_per_s"] == pytest.approx(199 * 20 / (199 * 0.120))
    assert list(df["model"]) == ["gpt-4o", "mystery-model"]


def test_latency_without_streams_has_nan_ttft(engine: Engine, seeded: Seeded) -> None:
    day = Filters(datetime(2026, 10, 31, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    df = latency_over_time(engine, day, "day")
    assert len(df) == 1
    assert df["ttft_p50_ms"].isna().all()
    assert df["p50_ms"].iloc[0] == 100 + 50 * 0.5  # one 120 ms request in (100, 150]


def test_reliability_per_day_and_project_is_exact(engine: Engine, seeded: Seeded) -> None:
    df = reliability(engine, WHOLE, "day").set_index(["project"])
    nov1 = df[df["ts"] == datetime(2026, 11, 1, tzinfo=UTC)]
    alpha, beta = nov1.loc["alpha"], nov1.loc["beta"]
    # alpha on Nov 1: 11 requests; eligible 9 (no client_error, blocked), bad 2; SLO 0.995
    assert (alpha["requests"], alpha["eligible"], alpha["bad"]) == (11, 9, 2)
    assert alpha["error_budget_remaining"] == float(Fraction(-391, 9))
    assert alpha["burn_rate"] == float(Fraction(400, 9))
    assert (alpha["retried"], alpha["rescued"], alpha["retry_success_rate"]) == (2, 1, 0.5)
    assert alpha["attempts_per_success"] == float(Fraction(13, 7))
    assert alpha["failed_attempt_cost_usd"] == Decimal("0.000001")
    # beta: 200 eligible, 1 bad, SLO 0.99 → half the budget left, burning at 0.5×
    assert (beta["eligible"], beta["bad"]) == (200, 1)
    assert (beta["error_budget_remaining"], beta["burn_rate"]) == (0.5, 0.5)
    assert pd_isnan(beta["retry_success_rate"])
    assert beta["attempts_per_success"] == float(Fraction(200, 199))
    assert len(df) == 4  # Oct 31 alpha, Nov 1 alpha + beta, Nov 2 alpha


def pd_isnan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def test_error_budget_by_project_over_the_slo_window(engine: Engine, seeded: Seeded) -> None:
    df = error_budget_by_project(engine, WHOLE, NOW).set_index("project")
    assert list(df.index) == ["alpha", "beta"]
    alpha, beta = df.loc["alpha"], df.loc["beta"]
    assert (alpha["slo_target"], alpha["window_days"]) == (Decimal("0.995"), 30)
    assert (alpha["eligible"], alpha["bad"]) == (11, 2)
    assert alpha["remaining"] == float(Fraction(-389, 11))
    assert alpha["burn_rate"] == float(Fraction(400, 11))
    assert beta["slo_target"] == Decimal("0.99")
    assert (beta["remaining"], beta["burn_rate"]) == (0.5, 0.5)


def test_error_budget_window_ends_at_now(engine: Engine, seeded: Seeded) -> None:
    early = datetime(2026, 11, 1, 12, 30, tzinfo=UTC)  # before beta's hour and Nov 2
    df = error_budget_by_project(engine, WHOLE, early).set_index("project")
    assert (df.loc["alpha", "eligible"], df.loc["alpha", "bad"]) == (10, 2)
    assert df.loc["beta", "eligible"] == 0
    assert pd_isnan(df.loc["beta", "remaining"])


def test_errors_breakdown_reads_requests(engine: Engine, seeded: Seeded) -> None:
    df = errors_breakdown(engine, WHOLE)
    statuses = [None if pd.isna(s) else int(s) for s in df["http_status"]]
    rows = set(
        zip(df["outcome"], df["error_type"], statuses, df["model"], df["requests"], strict=True)
    )
    mini = "gpt-4o-mini-2024-07-18"
    assert rows == {
        ("upstream_error", "server_error", 502, mini, 1),
        ("timeout", "timeout", None, mini, 1),
        ("client_error", "invalid_request_error", 400, mini, 1),
        ("blocked", "budget_exceeded", 429, mini, 1),
        ("upstream_error", "server_error", 500, "gpt-4o", 1),
    }
    assert str(df["http_status"].dtype) == "Int64"
    burning = errors_breakdown(engine, WHOLE, outcomes=("upstream_error", "timeout"))
    assert sorted(burning["outcome"]) == ["timeout", "upstream_error", "upstream_error"]
    with pytest.raises(ValueError):
        errors_breakdown(engine, WHOLE, outcomes=("success",))


def test_tag_filters_are_refused_where_rollups_lack_them(engine: Engine, seeded: Seeded) -> None:
    tagged = Filters(WHOLE.start, WHOLE.end, tags=("team=ml",))
    with pytest.raises(UnsupportedFilterError):
        latency_over_time(engine, tagged, "day")
    with pytest.raises(UnsupportedFilterError):
        reliability(engine, tagged, "day")
    with pytest.raises(UnsupportedFilterError):
        error_budget_by_project(engine, tagged, NOW)
