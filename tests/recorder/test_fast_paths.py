"""The writer's shortcuts give exactly what the slow paths they replace give."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from collector import dbapi as db_engine
from collector import histogram
from collector.histogram import LATENCY_COLUMNS, TTFT_COLUMNS
from collector.recorder import AttemptEvent, UsageEvent, _binds, rollup
from tests.factories import make_event

_FIRST = datetime(1, 1, 2, tzinfo=UTC)
_SPAN_S = int((datetime(9999, 12, 30, tzinfo=UTC) - _FIRST).total_seconds())


def _moments(rng: random.Random, n: int) -> list[datetime]:
    out = [
        _FIRST + timedelta(seconds=rng.randrange(_SPAN_S), microseconds=rng.randrange(10**6))
        for _ in range(n)
    ]
    live = datetime(2026, 11, 1, 23, 59, 59, tzinfo=UTC)  # a live stream crosses midnight
    out += [live + timedelta(microseconds=i * 997) for i in range(3000)]
    return out


def test_utc_text_is_isoformat_to_the_microsecond() -> None:
    for moment in _moments(random.Random(7), 50_000):
        assert _binds._utc_text(moment) == moment.isoformat(" ", "microseconds")[:-6]


def test_utc_text_cache_stays_bounded() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(3 * _binds._SECONDS_KEPT):
        moment = start + timedelta(seconds=i, microseconds=i)
        assert _binds._utc_text(moment) == moment.isoformat(" ", "microseconds")[:-6]
    assert len(_binds._SECONDS) <= _binds._SECONDS_KEPT


def test_hour_of_is_the_utc_hour_whatever_the_zone() -> None:
    rng = random.Random(11)
    for moment in _moments(rng, 30_000):
        zone = timezone(timedelta(minutes=rng.randrange(-12 * 60, 14 * 60, 15)))
        local = moment.astimezone(zone) if rng.random() < 0.3 else moment
        hour = rollup.hour_of(local)
        assert hour == moment.replace(minute=0, second=0, microsecond=0)
        assert hour.tzinfo is UTC
    assert len(rollup._HOURS) <= rollup._HOURS_KEPT


def test_none_still_binds_null_with_the_adapter() -> None:
    assert db_engine._NOTHING == {}  # the adapter's table must stay empty
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a, b)")
    conn.execute("INSERT INTO t VALUES (?, ?)", (None, 1))
    assert conn.execute("SELECT a IS NULL, typeof(a), b FROM t").fetchone() == (1, "null", 1)
    assert sqlite3.adapters[(type(None), sqlite3.PrepareProtocol)] == db_engine._NOTHING.get


def test_bucket_counts_is_bucket_index_counted() -> None:
    rng = random.Random(5)
    edges = [b + d for b in histogram.LATENCY_BOUNDS_MS for d in (-1e-9, 0, 1e-9, 0.5)]
    samples = [
        [rng.lognormvariate(5, 1.5) for _ in range(rng.randrange(1, 40))] for _ in range(300)
    ]
    samples += [edges, [0.0, -0.0, 5, 10, 120_000, 120_000.0001, 1e12], [-1.0, 3.0], [7]]
    samples += [[float("nan"), 4.0, 6.0], [3.0, float("nan")], [float("inf"), 1.0]]
    for values in samples:
        want = Counter(histogram.bucket_index(v) for v in values)
        assert histogram.bucket_counts(values) == want, values


def _reference(events: list[UsageEvent]) -> dict[Any, dict[str, Any]]:
    """The hourly rollup increments, one event and one counter at a time."""
    out: dict[Any, dict[str, Any]] = {}
    for e in events:
        model = e.model_served or e.model_requested or ""
        key = (rollup.hour_of(e.started_at), e.project_id or 0, e.api_key_id or 0,
               e.end_user or "", model, e.outcome)  # fmt: skip
        row = out.setdefault(key, dict(rollup._EMPTY))
        row["requests"] += 1
        row["stream_requests"] += e.stream
        for name in ("prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens"):
            row[name] += getattr(e, name)
        row["unpriced_requests"] += e.cost_source == "unpriced"
        row["estimated_requests"] += e.cost_source == "estimated"
        row["retried_requests"] += e.retried
        row["retry_rescued"] += e.retried and e.outcome == "success"
        row["attempts"] += len(e.attempts)
        for a in e.attempts:
            if rollup.attempt_failed(a):
                row["failed_attempts"] += 1
                row["failed_attempt_cost_usd"] += a.cost_usd or Decimal(0)
        if e.cost_usd is not None:
            row["cost_usd"] += e.cost_usd
        row["duration_ms_sum"] += e.duration_ms
        row[LATENCY_COLUMNS[histogram.bucket_index(e.duration_ms)]] += 1
        if e.ttft_ms is not None:
            row["ttft_count"] += 1
            row["ttft_ms_sum"] += e.ttft_ms
            row[TTFT_COLUMNS[histogram.bucket_index(e.ttft_ms)]] += 1
    return out


def _varied_events(rng: random.Random, n: int) -> list[UsageEvent]:
    start = datetime(2026, 11, 1, 22, tzinfo=UTC)
    out = []
    for i in range(n):
        started = start + timedelta(seconds=rng.randrange(3 * 3600))
        outcome = rng.choice(["success"] * 6 + ["upstream_error", "timeout", "blocked"])
        tries = rng.choice([0, 1, 1, 1, 2, 3])
        attempts = [
            AttemptEvent(
                k + 1, started, rng.uniform(1, 900),
                http_status=rng.choice([200, 200, 429, 500, None]),
                error_type=rng.choice([None, None, "timeout"]),
                cost_usd=rng.choice([None, Decimal("0.0000001234")]),
            )
            for k in range(tries)
        ]  # fmt: skip
        out.append(
            make_event(
                started_at=started, outcome=outcome, stream=rng.random() < 0.4,
                duration_ms=rng.choice([rng.lognormvariate(6, 1.2), 5, 1000.0, 200000.0]),
                ttft_ms=rng.choice([None, rng.uniform(0, 3000)]),
                cost_usd=rng.choice([None, Decimal(0), Decimal(f"0.{i:010d}")]),
                cost_source=rng.choice(["computed", "unpriced", "estimated"]),
                end_user=rng.choice([None, "u1", "u2"]), project_id=rng.choice([None, 1, 2]),
                cached_tokens=rng.randrange(50), reasoning_tokens=rng.randrange(9),
                attempts=attempts,
            )
        )  # fmt: skip
    return out


def test_grouped_sums_equal_one_event_at_a_time() -> None:
    events = _varied_events(random.Random(3), 3000)
    got, want = rollup.aggregate_all(events).rollups, _reference(events)
    assert got.keys() == want.keys()
    for key, row in want.items():
        assert got[key] == row, key
        assert {k: type(v) for k, v in got[key].items()} == {k: type(v) for k, v in row.items()}
