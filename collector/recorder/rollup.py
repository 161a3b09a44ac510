"""Pure aggregation of events into hourly rollup increments (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from collector.histogram import LATENCY_COLUMNS, TTFT_COLUMNS, bucket_index
from collector.recorder.events import AttemptEvent, UsageEvent

RollupKey = tuple[datetime, int, int, str, str, str]
TagKey = tuple[datetime, str, int, str, str]

_INT_COUNTERS = (
    "requests", "stream_requests", "prompt_tokens", "cached_tokens", "completion_tokens",
    "reasoning_tokens", "unpriced_requests", "estimated_requests", "retried_requests",
    "retry_rescued", "attempts", "failed_attempts", "ttft_count",
)  # fmt: skip


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def attempt_failed(attempt: AttemptEvent) -> bool:
    """An attempt that did not produce the answer (error, or a non-2xx status)."""
    if attempt.error_type:
        return True
    return attempt.http_status is None or attempt.http_status >= 400


def _empty() -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(_INT_COUNTERS, 0)
    row.update(dict.fromkeys(LATENCY_COLUMNS, 0))
    row.update(dict.fromkeys(TTFT_COLUMNS, 0))
    row["cost_usd"] = Decimal(0)
    row["failed_attempt_cost_usd"] = Decimal(0)
    row["duration_ms_sum"] = 0.0
    row["ttft_ms_sum"] = 0.0
    return row


def _model(event: UsageEvent) -> str:
    return event.model_served or event.model_requested or ""


def _add(row: dict[str, Any], e: UsageEvent) -> None:
    row["requests"] += 1
    row["stream_requests"] += e.stream
    row["prompt_tokens"] += e.prompt_tokens
    row["cached_tokens"] += e.cached_tokens
    row["completion_tokens"] += e.completion_tokens
    row["reasoning_tokens"] += e.reasoning_tokens
    row["unpriced_requests"] += e.cost_source == "unpriced"
    row["estimated_requests"] += e.cost_source == "estimated"
    if e.retried:
        row["retried_requests"] += 1
        row["retry_rescued"] += e.outcome == "success"
    row["attempts"] += len(e.attempts)
    for attempt in e.attempts:
        if attempt_failed(attempt):
            row["failed_attempts"] += 1
            row["failed_attempt_cost_usd"] += attempt.cost_usd or Decimal(0)
    if e.cost_usd is not None:
        row["cost_usd"] += e.cost_usd
    row["duration_ms_sum"] += e.duration_ms
    row[LATENCY_COLUMNS[bucket_index(e.duration_ms)]] += 1
    if e.ttft_ms is not None:
        row["ttft_count"] += 1
        row["ttft_ms_sum"] += e.ttft_ms
        row[TTFT_COLUMNS[bucket_index(e.ttft_ms)]] += 1


def aggregate(events: Iterable[UsageEvent]) -> dict[RollupKey, dict[str, Any]]:
    """Sum events per (hour, project, key, user, model, outcome)."""
    rows: dict[RollupKey, dict[str, Any]] = {}
    for e in events:
        key = (
            hour_of(e.started_at),
            e.project_id or 0,
            e.api_key_id or 0,
            e.end_user or "",
            _model(e),
            e.outcome,
        )
        row = rows.get(key)
        if row is None:
            row = rows[key] = _empty()
        _add(row, e)
    return rows


def aggregate_tags(events: Iterable[UsageEvent]) -> dict[TagKey, dict[str, Any]]:
    """Sum events per (hour, tag, project, model, outcome); one row per tag of a request."""
    rows: dict[TagKey, dict[str, Any]] = {}
    for e in events:
        for name, value in e.tags.items():
            key = (
                hour_of(e.started_at),
                f"{name}={value}",
                e.project_id or 0,
                _model(e),
                e.outcome,
            )
            row = rows.setdefault(
                key,
                {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": Decimal(0)},
            )
            row["requests"] += 1
            row["prompt_tokens"] += e.prompt_tokens
            row["completion_tokens"] += e.completion_tokens
            row["cost_usd"] += e.cost_usd or Decimal(0)
    return rows
