"""Pure aggregation of events into rollup increments (no I/O).

One pass over a batch gives the increments of every rollup table the recorder writes:
hourly (and, summed per UTC day, daily) request rollups, tag rollups, error rollups and
batch / flex tier rollups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from collector.histogram import LATENCY_COLUMNS, TTFT_COLUMNS, bucket_index
from collector.recorder.events import AttemptEvent, UsageEvent

RollupKey = tuple[datetime, int, int, str, str, str]
TagKey = tuple[datetime, str, int, str, str]
# (hour, project, key, user, model, outcome, error type, HTTP status); '' / 0 for none
ErrorKey = tuple[datetime, int, int, str, str, str, str, int]
# (hour, project, key, user, model, outcome, 'batch' | 'flex')
TierKey = tuple[datetime, int, int, str, str, str, str]
Groups = dict[Any, dict[str, Any]]

_INT_COUNTERS = (
    "requests", "stream_requests", "prompt_tokens", "cached_tokens", "completion_tokens",
    "reasoning_tokens", "unpriced_requests", "estimated_requests", "retried_requests",
    "retry_rescued", "attempts", "failed_attempts", "ttft_count",
)  # fmt: skip
_ZERO = Decimal(0)


_HOURS: dict[int, datetime] = {}  # hours since 0001-01-01 → that hour (aware, UTC)
_HOURS_KEPT = 4096


def hour_of(moment: datetime) -> datetime:
    """The start of ``moment``'s UTC hour (as stored: an aware datetime in UTC).

    Remembered per hour: ``replace`` with keywords cost ~9k instructions an event.
    """
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    key = moment.toordinal() * 24 + moment.hour
    hour = _HOURS.get(key)
    if hour is None:
        if len(_HOURS) >= _HOURS_KEPT:
            _HOURS.clear()
        hour = _HOURS[key] = moment.replace(minute=0, second=0, microsecond=0)
    return hour


def attempt_failed(attempt: AttemptEvent) -> bool:
    """An attempt that did not produce the answer (error, or a non-2xx status)."""
    if attempt.error_type:
        return True
    return attempt.http_status is None or attempt.http_status >= 400


_EMPTY: dict[str, Any] = dict.fromkeys(_INT_COUNTERS, 0)
_EMPTY.update(dict.fromkeys(LATENCY_COLUMNS, 0))
_EMPTY.update(dict.fromkeys(TTFT_COLUMNS, 0))
_EMPTY.update(cost_usd=_ZERO, failed_attempt_cost_usd=_ZERO, duration_ms_sum=0.0)
_EMPTY["ttft_ms_sum"] = 0.0
_EMPTY_TAG: dict[str, Any] = {
    "requests": 0,
    "prompt_tokens": 0,
    "completion_tokens": 0,
    "cost_usd": _ZERO,
}

_EMPTY_TIER: dict[str, Any] = dict.fromkeys(
    ("requests", "priced_requests", "prompt_tokens", "cached_tokens", "completion_tokens",
     "audio_prompt_tokens", "audio_completion_tokens"), 0,
)  # fmt: skip
_EMPTY_TIER["cost_usd"] = _ZERO


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
            row["failed_attempt_cost_usd"] += attempt.cost_usd or _ZERO
    if e.cost_usd is not None:
        row["cost_usd"] += e.cost_usd
    row["duration_ms_sum"] += e.duration_ms
    row[LATENCY_COLUMNS[bucket_index(e.duration_ms)]] += 1
    if e.ttft_ms is not None:
        row["ttft_count"] += 1
        row["ttft_ms_sum"] += e.ttft_ms
        row[TTFT_COLUMNS[bucket_index(e.ttft_ms)]] += 1


def _add_tag(row: dict[str, Any], e: UsageEvent) -> None:
    row["requests"] += 1
    row["prompt_tokens"] += e.prompt_tokens
    row["completion_tokens"] += e.completion_tokens
    if e.cost_usd is not None:
        row["cost_usd"] += e.cost_usd


def _add_tier(row: dict[str, Any], e: UsageEvent) -> None:
    """Every batch / flex request counts; tokens and cost only of priced ones (as savings)."""
    row["requests"] += 1
    if e.cost_usd is not None:
        row["priced_requests"] += 1
        row["prompt_tokens"] += e.prompt_tokens
        row["cached_tokens"] += e.cached_tokens
        row["completion_tokens"] += e.completion_tokens
        row["audio_prompt_tokens"] += e.audio_prompt_tokens
        row["audio_completion_tokens"] += e.audio_completion_tokens
        row["cost_usd"] += e.cost_usd


@dataclass(slots=True)
class Aggregates:
    """The increments of one batch: per rollup key, the counters to add."""

    rollups: dict[RollupKey, dict[str, Any]] = field(default_factory=dict)
    tags: dict[TagKey, dict[str, Any]] = field(default_factory=dict)
    errors: dict[ErrorKey, dict[str, Any]] = field(default_factory=dict)
    tiers: dict[TierKey, dict[str, Any]] = field(default_factory=dict)


def aggregate_all(events: Iterable[UsageEvent]) -> Aggregates:
    """One pass: request, tag, error and tier increments (hour and model computed once)."""
    out = Aggregates()
    rollups, tags, errors, tiers = out.rollups, out.tags, out.errors, out.tiers
    for e in events:
        hour = hour_of(e.started_at)
        model = _model(e)
        project = e.project_id or 0
        key = (hour, project, e.api_key_id or 0, e.end_user or "", model, e.outcome)
        row = rollups.get(key)
        if row is None:
            row = rollups[key] = _EMPTY.copy()
        _add(row, e)
        for name, value in e.tags.items():
            tag_key = (hour, f"{name}={value}", project, model, e.outcome)
            tag_row = tags.get(tag_key)
            if tag_row is None:
                tag_row = tags[tag_key] = _EMPTY_TAG.copy()
            _add_tag(tag_row, e)
        if e.outcome != "success":
            error_key = (*key, e.error_type or "", e.http_status or 0)
            error_row = errors.get(error_key)
            if error_row is None:
                errors[error_key] = {"requests": 1}
            else:
                error_row["requests"] += 1
        if e.batch or e.service_tier == "flex":
            tier_key = (*key, "batch" if e.batch else "flex")
            tier_row = tiers.get(tier_key)
            if tier_row is None:
                tier_row = tiers[tier_key] = _EMPTY_TIER.copy()
            _add_tier(tier_row, e)
    return out


def aggregate(events: Iterable[UsageEvent]) -> dict[RollupKey, dict[str, Any]]:
    """Sum events per (hour, project, key, user, model, outcome)."""
    return aggregate_all(events).rollups


def aggregate_tags(events: Iterable[UsageEvent]) -> dict[TagKey, dict[str, Any]]:
    """Sum events per (hour, tag, project, model, outcome); one row per tag of a request."""
    return aggregate_all(events).tags


def aggregate_errors(events: Iterable[UsageEvent]) -> dict[ErrorKey, dict[str, Any]]:
    """Count failed events per (hour, project, key, user, model, outcome, error, status)."""
    return aggregate_all(events).errors


def by_day(groups: Groups) -> Groups:
    """Hourly increments (the hour first in each key) summed per UTC day."""
    days: Groups = {}
    for key, counters in groups.items():
        day_key = (key[0].replace(hour=0), *key[1:])
        known = days.get(day_key)
        if known is None:
            days[day_key] = counters.copy()
        else:
            for name, value in counters.items():
                known[name] += value
    return days
