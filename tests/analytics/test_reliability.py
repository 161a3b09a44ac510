"""Latency percentiles, error budget, burn rate and retries, exact on both databases."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, delete, func, select

from collector.analytics import (
    FAILED_SERIES,
    OTHER_SERIES,
    Filters,
    UnsupportedFilterError,
    error_budget_by_project,
    errors_breakdown,
    latency_over_time,
    reliability,
)
from collector.db import table_of
from collector.db.models import Request, hourly_error_rollups
from collector.recorder import write_batch
from tests.analytics.conftest import NOV1_13, Seeded
from tests.factories import make_event

WHOLE = Filters(datetime(2026, 10, 31, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
NOW = datetime(2026, 11, 2, 0, 30, tzinfo=UTC)


def test_latency_percentiles_come_from_summed_buckets(engine: Engine, seeded: Seeded) -> None:
    df = latency_over_time(engine, Filters(NOV1_13, NOV1_13 + timedelta(hours=1)), "hour")
    row = df[df["model"] == "gpt-4o"].iloc[0]
    assert row["requests"] == 198  # the 199th failed: its time is the failure's, not gpt-4o's
    # 199 requests of 120 ms all in the (100, 150] bucket: linear within it
    assert (row["p50_ms"], row["p95_ms"], row["p99_ms"]) == (125.0, 147.5, 149.5)
    # 198 streams with TTFT 40 ms in (25, 50]
    assert (row["ttft_p50_ms"], row["ttft_p95_ms"]) == (37.5, 48.75)
    assert row["tokens_per_s"] == pytest.approx(198 * 20 / (198 * 0.120))
    assert list(df["model"]) == [FAILED_SERIES, "gpt-4o", "mystery-model"]
    assert df.set_index("model").loc[FAILED_SERIES, "requests"] == 1


def test_latency_keeps_the_busiest_models_and_sums_the_rest_exactly(engine: Engine) -> None:
    events = [
        make_event(model_requested=f"m{n}", model_served=f"m{n}", duration_ms=ms,
                   started_at=NOV1_13 + timedelta(seconds=i))
        for n, count, ms in ((1, 5, 120.0), (2, 4, 120.0), (3, 3, 900.0), (4, 2, 900.0))
        for i in range(count)
    ]  # fmt: skip
    assert write_batch(engine, events) == len(events)
    hour = Filters(NOV1_13, NOV1_13 + timedelta(hours=1))
    df = latency_over_time(engine, hour, "hour", top=2).set_index("model")
    assert list(df.index) == ["m1", "m2", OTHER_SERIES]
    assert df.loc[OTHER_SERIES, "requests"] == 5  # m3 and m4 summed
    assert (
        df.loc[OTHER_SERIES, "p50_ms"]
        == latency_over_time(
            engine, Filters(NOV1_13, NOV1_13 + timedelta(hours=1), models=("m3", "m4")), "hour"
        )["p50_ms"].max()
    )  # both 900 ms: the summed histogram's percentile
    assert list(latency_over_time(engine, hour, "hour", top=3)["model"]) == ["m1", "m2", "m3", "m4"]


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


# --- the error breakdown: rollup (whole hours) + requests (edges) == requests alone ---------

_ERRORS = (
    ("upstream_error", "server_error", 502),
    ("upstream_error", "server_error", 500),
    ("timeout", "timeout", None),
    ("client_error", "invalid_request_error", 400),
    ("blocked", "budget_exceeded", 429),
    ("cancelled", None, None),
)


def _failures(seeded: Seeded, n: int, seed: int) -> list[Any]:
    """``n`` failed requests (and some successes) spread over 1–3 Nov, every key shape."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    events = []
    for _ in range(n):
        outcome, error_type, status = rng.choice(_ERRORS)
        keys = ((seeded.alpha, seeded.key_a), (seeded.beta, seeded.key_b), (None, None))
        pid, kid = rng.choice(keys)
        served = rng.choice(("gpt-4o", "gpt-4o-mini-2024-07-18", None))
        events.append(
            make_event(
                started_at=start + timedelta(seconds=rng.randrange(3 * 86400)),
                outcome=rng.choice((outcome, "success")),
                error_type=error_type,
                http_status=status,
                project_id=pid,
                api_key_id=kid,
                end_user=rng.choice(("u1", "u2", None)),
                model_served=served,
                model_requested=rng.choice(("gpt-4o", None)) if served is None else "gpt-4o",
                tags=rng.choice(({}, {"team": "ml"})),
            )
        )
    return events


def _raw_breakdown(engine: Engine, f: Filters) -> Counter[tuple[Any, ...]]:
    """Counted in Python from the raw rows, independently of the query code."""
    with engine.connect() as conn:
        rows = conn.execute(select(Request.__table__)).all()
    out: Counter[tuple[Any, ...]] = Counter()
    for r in rows:
        model = r.model_served or r.model_requested or ""
        tags = {f"{k}={v}" for k, v in (r.tags or {}).items()}
        if (
            r.outcome != "success"
            and f.start <= r.started_at < f.end
            and (not f.project_ids or r.project_id in f.project_ids)
            and (not f.api_key_ids or r.api_key_id in f.api_key_ids)
            and (not f.end_users or r.end_user in f.end_users)
            and (not f.models or model in f.models)
            and (not f.tags or tags & set(f.tags))
        ):
            out[(r.outcome, r.error_type, r.http_status, model or "(none)")] += 1
    return out


def _breakdown(engine: Engine, f: Filters) -> Counter[tuple[Any, ...]]:
    df = errors_breakdown(engine, f)
    assert list(df["requests"]) == sorted(df["requests"], reverse=True)
    statuses = [None if pd.isna(s) else int(s) for s in df["http_status"]]
    keys = zip(df["outcome"], df["error_type"], statuses, df["model"], strict=True)
    found = Counter(dict(zip(keys, (int(n) for n in df["requests"]), strict=True)))
    assert len(found) == len(df)  # no key listed twice
    return found


def _ranges(seeded: Seeded) -> list[Filters]:
    nov1 = datetime(2026, 11, 1, tzinfo=UTC)
    odd = timedelta(minutes=17, seconds=3, microseconds=5)
    return [
        WHOLE,  # whole days only
        Filters(nov1 + odd, nov1 + timedelta(days=2) + odd),  # partial hours at both edges
        Filters(nov1 + timedelta(hours=5), nov1 + timedelta(hours=5) + odd),  # inside an hour
        Filters(nov1 + odd, nov1 + timedelta(hours=1)),  # one partial hour, then nothing
        Filters(nov1 + timedelta(hours=3), nov1 + timedelta(days=1), project_ids=(seeded.beta,)),
        Filters(nov1 + odd, nov1 + timedelta(days=3), models=("gpt-4o",), end_users=("u1",)),
        Filters(nov1 + odd, nov1 + timedelta(days=3), api_key_ids=(seeded.key_a,)),
        Filters(nov1 + odd, nov1 + timedelta(days=2), tags=("team=ml",)),  # requests only
    ]


def test_errors_breakdown_equals_the_raw_rows_exactly(engine: Engine, seeded: Seeded) -> None:
    write_batch(engine, _failures(seeded, 2000, seed=7))
    for f in _ranges(seeded):
        expected = _raw_breakdown(engine, f)
        assert expected, f  # each range holds failures: the comparison means something
        assert _breakdown(engine, f) == expected, f


def test_errors_breakdown_reads_whole_hours_from_the_rollup(engine: Engine, seeded: Seeded) -> None:
    f = Filters(NOV1_13, NOV1_13 + timedelta(hours=1))
    before = _breakdown(engine, f)
    assert before == {("upstream_error", "server_error", 500, "gpt-4o"): 1}
    with engine.begin() as conn:  # the raw rows go; the rollup still has the hour
        conn.execute(delete(table_of(Request)).where(Request.started_at >= NOV1_13))
    assert _breakdown(engine, f) == before
    assert _breakdown(engine, Filters(NOV1_13, NOV1_13 + timedelta(minutes=59))) == {}


def test_error_rollup_ignores_replays(engine: Engine, seeded: Seeded) -> None:
    events = _failures(seeded, 200, seed=11)
    first = events[:120]
    assert write_batch(engine, first + first[:10]) == 120  # duplicates inside a batch too
    assert write_batch(engine, events) == 80  # a replay overlapping the stored rows
    assert write_batch(engine, events) == 0
    for f in _ranges(seeded)[:3]:
        assert _breakdown(engine, f) == _raw_breakdown(engine, f)
    with engine.connect() as conn:
        stored = conn.scalar(select(func.sum(hourly_error_rollups.c.requests)))
        failed = conn.scalar(
            select(func.count()).select_from(Request).where(Request.outcome != "success")
        )
    assert stored == failed
