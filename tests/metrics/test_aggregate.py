"""The pure aggregation behind /metrics: exact money, bounded labels, histogram buckets."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from collector.metrics import (
    DURATION_BOUNDS_MS,
    OTHER,
    TTFT_BOUNDS_MS,
    Aggregate,
    status_class,
)
from collector.recorder import AttemptEvent
from tests.factories import make_event

T = datetime(2026, 12, 1, tzinfo=UTC)


def _attempt(no: int, status: int | None, error: str | None = None) -> AttemptEvent:
    return AttemptEvent(
        attempt_no=no, started_at=T, duration_ms=5.0, upstream="default",
        http_status=status, error_type=error,
    )  # fmt: skip


def test_costs_are_summed_exactly_per_model_project_and_source() -> None:
    agg = Aggregate()
    # 0.1 + 0.2 is not 0.3 in floats; a thousand tenths of a cent must be exactly $1.
    for _ in range(1000):
        agg.observe(make_event(project_id=7, cost_usd=Decimal("0.001")))
    agg.observe(make_event(project_id=7, cost_usd=Decimal("0.1")))
    agg.observe(make_event(project_id=7, cost_usd=Decimal("0.2")))
    agg.observe(make_event(project_id=8, cost_usd=Decimal("0.0000270001")))
    agg.observe(make_event(project_id=7, cost_source="estimated", cost_usd=Decimal("0.05")))
    cost = agg.snapshot().cost
    served = "gpt-4o-mini-2024-07-18"
    assert cost[(served, 7, "computed")] == Decimal("1.3")
    assert cost[(served, 8, "computed")] == Decimal("0.0000270001")
    assert cost[(served, 7, "estimated")] == Decimal("0.05")
    assert all(isinstance(v, Decimal) for v in cost.values())


def test_unpriced_requests_are_counted_apart_never_as_zero_dollars() -> None:
    agg = Aggregate()
    agg.observe(make_event(model_served=None, model_requested="mystery-1", cost_usd=None,
                           cost_source="unpriced"))  # fmt: skip
    agg.observe(make_event(model_served=None, model_requested="mystery-1", cost_usd=None,
                           cost_source="unpriced"))  # fmt: skip
    totals = agg.snapshot()
    assert totals.unpriced == {"mystery-1": 2}
    assert totals.cost == {}


def test_requests_by_served_else_requested_model_outcome_and_project() -> None:
    agg = Aggregate()
    agg.observe(make_event(project_id=1))
    agg.observe(make_event(project_id=1))
    agg.observe(make_event(model_served=None, outcome="upstream_error", cost_usd=Decimal(0)))
    agg.observe(make_event(model_served=None, model_requested=None, outcome="client_error"))
    assert agg.snapshot().requests == {
        ("gpt-4o-mini-2024-07-18", "success", 1): 2,
        ("gpt-4o-mini", "upstream_error", None): 1,
        ("", "client_error", None): 1,
    }


def test_tokens_by_kind_and_model() -> None:
    agg = Aggregate()
    for _ in range(3):
        agg.observe(make_event(prompt_tokens=100, cached_tokens=40, completion_tokens=30,
                               reasoning_tokens=12))  # fmt: skip
    assert agg.snapshot().tokens == {"gpt-4o-mini-2024-07-18": [300, 120, 90, 36]}


def test_attempts_by_upstream_and_status_class_and_retries_by_outcome() -> None:
    agg = Aggregate()
    tries = [_attempt(1, 502), _attempt(2, None, "timeout"), _attempt(3, 200)]
    agg.observe(make_event(attempts=tries))
    agg.observe(make_event(outcome="upstream_error", attempts=[_attempt(1, 429), _attempt(2, 429)]))
    agg.observe(make_event())  # one try, upstream taken from the request
    totals = agg.snapshot()
    assert totals.attempts == {
        ("default", "5xx"): 1,
        ("default", "timeout"): 1,
        ("default", "2xx"): 1,
        ("default", "4xx"): 2,
        ("", "2xx"): 1,
    }
    assert totals.retried == {"success": 1, "upstream_error": 1}


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [(200, None, "2xx"), (429, "rate_limit", "4xx"), (None, "connection_error", "connection_error"),
     (None, "weird", "error"), (None, None, "error"), (700, None, "error")],
)  # fmt: skip
def test_status_class(status: int | None, error: str | None, expected: str) -> None:
    assert status_class(status, error) == expected


def test_duration_buckets_include_their_upper_bound() -> None:
    agg = Aggregate()
    for ms in (0.0, 5.0, 5.000001, 250.0, 10**7):
        agg.observe(make_event(duration_ms=ms))
    row = agg.snapshot().duration["/v1/chat/completions"]
    assert len(row) == len(DURATION_BOUNDS_MS) + 2  # buckets, +Inf, the sum
    counts = row[:-1]
    assert counts[0] == 2  # 0 and exactly 5 ms: le="0.005"
    assert counts[1] == 1  # just above 5 ms: le="0.01"
    assert counts[DURATION_BOUNDS_MS.index(250.0)] == 1
    assert counts[-1] == 1  # past the last bound: +Inf only
    assert sum(counts) == 5
    assert row[-1] == pytest.approx(5.0 + 5.000001 + 250.0 + 10**7)


def test_ttft_is_timed_for_streams_only() -> None:
    agg = Aggregate()
    agg.observe(make_event(stream=True, ttft_ms=80.0))
    agg.observe(make_event(stream=True, ttft_ms=None))
    agg.observe(make_event(stream=False, ttft_ms=30.0))
    row = agg.snapshot().ttft["/v1/chat/completions"]
    assert row[TTFT_BOUNDS_MS.index(100.0)] == 1 and sum(row[:-1]) == 1
    assert row[-1] == 80.0


def test_unknown_endpoints_share_one_histogram() -> None:
    agg = Aggregate(endpoints={"/v1/chat/completions"})
    agg.observe(make_event())
    for n in range(5):
        agg.observe(make_event(endpoint=f"/v1/files/file-{n}"))
    duration = agg.snapshot().duration
    assert set(duration) == {"/v1/chat/completions", OTHER}
    assert sum(duration[OTHER][:-1]) == 5


def test_model_labels_fold_into_other_past_the_bound_and_folds_are_counted() -> None:
    agg = Aggregate(max_series=3)
    for n in range(10):
        agg.observe(make_event(model_served=f"m-{n}", project_id=1, cost_usd=Decimal("0.01")))
    agg.observe(make_event(model_served="m-0", project_id=1, cost_usd=Decimal("0.01")))
    totals = agg.snapshot()
    assert totals.requests == {
        ("m-0", "success", 1): 2,
        ("m-1", "success", 1): 1,
        ("m-2", "success", 1): 1,
        (OTHER, "success", 1): 7,
    }
    # money is never lost by folding: it moves to model="other"
    assert totals.cost[(OTHER, 1, "computed")] == Decimal("0.07")
    assert sum(totals.cost.values()) == Decimal("0.11")
    assert set(totals.tokens) == {"m-0", "m-1", "m-2", OTHER}
    assert totals.folded["requests"] == 7 and totals.folded["cost"] == 7
    assert totals.folded["tokens"] == 7


def test_a_snapshot_does_not_move_with_later_requests() -> None:
    agg = Aggregate()
    agg.observe(make_event(prompt_tokens=10))
    before = agg.snapshot()
    agg.observe(make_event(prompt_tokens=10))
    assert before.tokens["gpt-4o-mini-2024-07-18"][0] == 10
    assert sum(before.duration["/v1/chat/completions"][:-1]) == 1
    assert agg.snapshot().tokens["gpt-4o-mini-2024-07-18"][0] == 20


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_series"):
        Aggregate(max_series=0)
