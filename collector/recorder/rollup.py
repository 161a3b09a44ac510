"""Pure aggregation of events into rollup increments (no I/O).

One pass over a batch gives the increments of every rollup table the recorder writes:
hourly (and, summed per UTC day, daily) request rollups, tag rollups, error rollups,
batch / flex tier rollups and the per-upstream ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from itertools import chain, compress
from operator import attrgetter, is_not
from typing import Any

from collector.histogram import LATENCY_COLUMNS, TTFT_COLUMNS, bucket_counts
from collector.recorder.events import AttemptEvent, UsageEvent
from collector.usage import TOOL_CALL_FIELDS

RollupKey = tuple[datetime, int, int, str, str, str]
# (hour, project, model, outcome): a RollupKey without api key and end user
ProjectKey = tuple[datetime, int, str, str]
TagKey = tuple[datetime, str, int, str, str]
# (hour, project, key, user, model, outcome, error type, HTTP status); '' / 0 for none
ErrorKey = tuple[datetime, int, int, str, str, str, str, int]
# (hour, project, key, user, model, outcome, 'batch' | 'flex')
TierKey = tuple[datetime, int, int, str, str, str, str]
# (hour, upstream, model, outcome); 'default' when the request names no upstream
UpstreamKey = tuple[datetime, str, str, str]
Groups = dict[Any, dict[str, Any]]

_INT_COUNTERS = (
    "requests", "stream_requests", "prompt_tokens", "cached_tokens", "completion_tokens",
    "reasoning_tokens", "unpriced_requests", "estimated_requests", "retried_requests",
    "retry_rescued", "attempts", "failed_attempts", "ttft_count", *TOOL_CALL_FIELDS,
    "cache_write_tokens",
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
_EMPTY.update(cost_usd=_ZERO, failed_attempt_cost_usd=_ZERO, saved_usd=_ZERO, duration_ms_sum=0.0)
_EMPTY["ttft_ms_sum"] = 0.0
_STREAM = attrgetter("stream")
_PROMPT = attrgetter("prompt_tokens")
_CACHED = attrgetter("cached_tokens")
_CACHE_WRITE = attrgetter("cache_write_tokens")
_COMPLETION = attrgetter("completion_tokens")
_REASONING = attrgetter("reasoning_tokens")
_AUDIO_PROMPT = attrgetter("audio_prompt_tokens")
_AUDIO_COMPLETION = attrgetter("audio_completion_tokens")
_TOOL_CALLS = tuple((name, attrgetter(name)) for name in TOOL_CALL_FIELDS)
_SOURCE = attrgetter("cost_source")
_UPSTREAM = attrgetter("upstream")
_COST = attrgetter("cost_usd")
_SAVED = attrgetter("saved_usd")
_DURATION = attrgetter("duration_ms")
_TTFT = attrgetter("ttft_ms")
_ATTEMPTS = attrgetter("attempts")
_STATUS = attrgetter("http_status")
_ERROR_TYPE = attrgetter("error_type")
_IS_SET = partial(is_not, None)


def _money(events: list[UsageEvent]) -> Decimal:
    """The events' known costs added up in order (None is no cost, not zero)."""
    return sum(filter(_IS_SET, map(_COST, events)), _ZERO)


def _sum_rollup(group: list[UsageEvent], outcome: str) -> dict[str, Any]:
    """The counters of one rollup key's events, a column at a time (C-level loops)."""
    row = _EMPTY.copy()
    row["requests"] = len(group)
    row["stream_requests"] = sum(map(_STREAM, group))
    row["prompt_tokens"] = sum(map(_PROMPT, group))
    row["cached_tokens"] = sum(map(_CACHED, group))
    row["cache_write_tokens"] = sum(map(_CACHE_WRITE, group))
    row["completion_tokens"] = sum(map(_COMPLETION, group))
    row["reasoning_tokens"] = sum(map(_REASONING, group))
    for name, tool_calls in _TOOL_CALLS:
        row[name] = sum(map(tool_calls, group))
    sources = list(map(_SOURCE, group))
    row["unpriced_requests"] = sources.count("unpriced")
    row["estimated_requests"] = sources.count("estimated")
    tries = list(map(len, map(_ATTEMPTS, group)))
    retried = len(tries) - tries.count(0) - tries.count(1)  # more than one try (UsageEvent.retried)
    row["retried_requests"] = retried
    row["retry_rescued"] = retried if outcome == "success" else 0
    row["attempts"] = sum(tries)
    failed = _failed_attempts(group)
    if failed:
        row["failed_attempts"] = len(failed)
        row["failed_attempt_cost_usd"] = sum(
            (a.cost_usd for a in failed if a.cost_usd is not None), _ZERO
        )
    row["cost_usd"] = _money(group)
    if outcome == "cache_hit":
        row["saved_usd"] = sum(filter(_IS_SET, map(_SAVED, group)), _ZERO)
    durations = list(map(_DURATION, group))
    row["duration_ms_sum"] = sum(durations, 0.0)
    for index, count in bucket_counts(durations).items():
        row[LATENCY_COLUMNS[index]] = count
    ttfts = list(filter(_IS_SET, map(_TTFT, group)))
    if ttfts:
        row["ttft_count"] = len(ttfts)
        row["ttft_ms_sum"] = sum(ttfts, 0.0)
        for index, count in bucket_counts(ttfts).items():
            row[TTFT_COLUMNS[index]] = count
    return row


def _failed_attempts(group: list[UsageEvent]) -> list[AttemptEvent]:
    """The group's attempts that failed (:func:`attempt_failed`); usually none, seen in C."""
    attempts = list(chain.from_iterable(map(_ATTEMPTS, group)))
    statuses = list(map(_STATUS, attempts))
    if not any(map(_ERROR_TYPE, attempts)) and (
        not statuses or (statuses.count(None) == 0 and max(statuses) < 400)
    ):
        return []
    return [a for a in attempts if attempt_failed(a)]


def _sum_tag(group: list[UsageEvent]) -> dict[str, Any]:
    return {
        "requests": len(group),
        "prompt_tokens": sum(map(_PROMPT, group)),
        "completion_tokens": sum(map(_COMPLETION, group)),
        "cost_usd": _money(group),
    }


def _sum_tier(group: list[UsageEvent]) -> dict[str, Any]:
    """Every batch / flex request counts; tokens and cost only of priced ones (as savings)."""
    priced = list(compress(group, map(_IS_SET, map(_COST, group))))
    return {
        "requests": len(group),
        "priced_requests": len(priced),
        "prompt_tokens": sum(map(_PROMPT, priced)),
        "cached_tokens": sum(map(_CACHED, priced)),
        "completion_tokens": sum(map(_COMPLETION, priced)),
        "audio_prompt_tokens": sum(map(_AUDIO_PROMPT, priced)),
        "audio_completion_tokens": sum(map(_AUDIO_COMPLETION, priced)),
        "cost_usd": _money(priced),
    }


def _by_upstream(
    groups: dict[RollupKey, list[UsageEvent]], sums: dict[RollupKey, dict[str, Any]]
) -> dict[UpstreamKey, dict[str, Any]]:
    """The upstream rollups' increments from the request rollups' groups: a group whose
    events share one upstream (the usual case) adds its already summed counters; a mixed
    group is split by upstream and each part summed. None and '' are 'default'."""
    out: dict[UpstreamKey, dict[str, Any]] = {}
    for key, group in groups.items():
        names = set(map(_UPSTREAM, group))
        if len({name or "default" for name in names}) == 1:
            row = sums[key]
            parts = [(names.pop() or "default", {c: row[c] for c in _UPSTREAM_SUMS})]
        else:
            split: dict[str, list[UsageEvent]] = {}
            for e in group:
                split.setdefault(e.upstream or "default", []).append(e)
            parts = [(name, _sum_upstream(events)) for name, events in split.items()]
        hour, model, outcome = key[0], key[4], key[5]
        for name, counters in parts:
            known = out.get((hour, name, model, outcome))
            if known is None:
                out[(hour, name, model, outcome)] = counters
            else:
                for column, value in counters.items():
                    known[column] += value
    return out


_UPSTREAM_SUMS = (
    "requests", "prompt_tokens", "cached_tokens", "completion_tokens", "unpriced_requests",
    "estimated_requests", "cost_usd",
)  # fmt: skip


def _sum_upstream(group: list[UsageEvent]) -> dict[str, Any]:
    sources = list(map(_SOURCE, group))
    return {
        "requests": len(group),
        "prompt_tokens": sum(map(_PROMPT, group)),
        "cached_tokens": sum(map(_CACHED, group)),
        "completion_tokens": sum(map(_COMPLETION, group)),
        "unpriced_requests": sources.count("unpriced"),
        "estimated_requests": sources.count("estimated"),
        "cost_usd": _money(group),
    }


@dataclass(slots=True)
class Aggregates:
    """The increments of one batch: per rollup key, the counters to add."""

    rollups: dict[RollupKey, dict[str, Any]] = field(default_factory=dict)
    tags: dict[TagKey, dict[str, Any]] = field(default_factory=dict)
    errors: dict[ErrorKey, dict[str, Any]] = field(default_factory=dict)
    tiers: dict[TierKey, dict[str, Any]] = field(default_factory=dict)
    upstreams: dict[UpstreamKey, dict[str, Any]] = field(default_factory=dict)


def aggregate_all(events: Iterable[UsageEvent]) -> Aggregates:
    """Request, tag, error, tier and upstream increments: events grouped by key in one pass
    (hour and model computed once an event), then each group summed a column at a time.

    Summing per column with ``sum(map(...))`` runs the loops in C; adding each event's ~25
    counters to a dict in Python cost ~4x more. Sums run in event order, as one by one.
    """
    rollups: dict[RollupKey, list[UsageEvent]] = {}
    tags: dict[TagKey, list[UsageEvent]] = {}
    tiers: dict[TierKey, list[UsageEvent]] = {}
    errors: dict[ErrorKey, dict[str, Any]] = {}
    for e in events:
        hour = hour_of(e.started_at)
        model = e.model_served or e.model_requested or ""
        project = e.project_id or 0
        outcome = e.outcome
        key = (hour, project, e.api_key_id or 0, e.end_user or "", model, outcome)
        group = rollups.get(key)
        if group is None:
            rollups[key] = [e]
        else:
            group.append(e)
        if e.tags:
            for name, value in e.tags.items():
                tag_key = (hour, f"{name}={value}", project, model, outcome)
                tagged = tags.get(tag_key)
                if tagged is None:
                    tags[tag_key] = [e]
                else:
                    tagged.append(e)
        if outcome != "success" and outcome != "cache_hit":
            error_key = (*key, e.error_type or "", e.http_status or 0)
            error_row = errors.get(error_key)
            if error_row is None:
                errors[error_key] = {"requests": 1}
            else:
                error_row["requests"] += 1
        if e.batch or e.service_tier == "flex":
            tier_key = (*key, "batch" if e.batch else "flex")
            tiered = tiers.get(tier_key)
            if tiered is None:
                tiers[tier_key] = [e]
            else:
                tiered.append(e)
    sums = {key: _sum_rollup(group, key[5]) for key, group in rollups.items()}
    return Aggregates(
        rollups=sums,
        tags={key: _sum_tag(group) for key, group in tags.items()},
        errors=errors,
        tiers={key: _sum_tier(group) for key, group in tiers.items()},
        upstreams=_by_upstream(rollups, sums),
    )


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


def by_project(groups: Groups) -> Groups:
    """Request rollup increments (keyed like ``RollupKey``) summed over api keys and end
    users: the project rollups' increments (keyed like ``ProjectKey``).

    Keys keep the order of first appearance and values add in the groups' order, as
    :func:`by_day` does.
    """
    out: Groups = {}
    for (period, project, _key, _user, model, outcome), counters in groups.items():
        coarse = (period, project, model, outcome)
        known = out.get(coarse)
        if known is None:
            out[coarse] = counters.copy()
        else:
            for name, value in counters.items():
                known[name] += value
    return out
