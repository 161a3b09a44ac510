"""The values the query layer takes and returns (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from collector.db.models import Attempt, Request

GroupBy = Literal["model", "project", "key", "user", "tag", "provider"]
Bucket = Literal["hour", "day"]
SortBy = Literal["started_at", "id", "cost_usd", "duration_ms"]

GROUP_BYS: tuple[GroupBy, ...] = ("model", "project", "key", "user", "tag", "provider")
BUCKETS: tuple[Bucket, ...] = ("hour", "day")
SORTABLE: tuple[SortBy, ...] = ("started_at", "id", "cost_usd", "duration_ms")
NONE_LABEL = "(none)"


class UnsupportedFilterError(ValueError):
    """The filter combination cannot be answered from the rollups (e.g. tags with latency)."""


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC)")
    return moment.astimezone(UTC)


OTHER_SERIES = "other"  # the series beyond the largest ones, summed
FAILED_SERIES = "failed (no answer)"  # latency of requests that ended without an answer


@dataclass(frozen=True, slots=True)
class Filters:
    """What every query is restricted to; empty tuples mean "no restriction".

    ``start``/``end`` are UTC and half-open. Aggregates (everything read from the hourly
    rollups) widen the range to whole hours: the hour containing ``start`` through the hour
    containing the instant just before ``end``. Detail queries (``requests_page``,
    ``errors_breakdown``) use the exact range. ``tags`` are ``"key=value"`` strings; a
    request matches when it carries any of them.
    """

    start: datetime
    end: datetime
    project_ids: tuple[int, ...] = ()
    api_key_ids: tuple[int, ...] = ()
    end_users: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _aware(self.start, "start"))
        object.__setattr__(self, "end", _aware(self.end, "end"))
        if self.end <= self.start:
            raise ValueError("end must be after start")
        for tag in self.tags:
            if "=" not in tag:
                raise ValueError(f"tag filter {tag!r} is not 'key=value'")

    @classmethod
    def last(cls, days: int, now: datetime, **dims: tuple[int, ...] | tuple[str, ...]) -> Filters:
        """The ``days`` days up to ``now`` (``dims`` are the other fields)."""
        if days < 1:
            raise ValueError("days must be >= 1")
        now = _aware(now, "now")
        return cls(now - timedelta(days=days), now, **dims)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class OverviewStats:
    """The headline numbers. Money is Decimal; ratios are floats (None: undefined, no data).

    ``spend_today`` / ``spend_month_to_date`` run from the start of ``now``'s UTC day / month
    to ``now`` (the filter's dimensions apply, its time range does not). Everything else
    covers the filter's range. ``error_budget_remaining`` pools projects: 1 − bad / Σ((1 −
    SLO_p) × eligible_p). With a tag filter, latency, error budget and retry figures are None
    (the tag rollups do not carry them).
    """

    spend_today_usd: Decimal
    spend_month_to_date_usd: Decimal
    spend_in_range_usd: Decimal
    requests: int
    error_rate: float | None
    p95_latency_ms: float | None
    error_budget_remaining: float | None
    retry_success_rate: float | None
    unpriced_requests: int | None
    unpriced_models: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RequestDetail:
    """One request (detached ORM rows) with its attempts in order, and display labels."""

    request: Request
    attempts: tuple[Attempt, ...]
    project_name: str | None
    key_label: str | None


@dataclass(frozen=True, slots=True)
class FilterOptions:
    """The choices a filter bar offers: (id, label) pairs and sorted distinct values."""

    projects: tuple[tuple[int, str], ...]
    keys: tuple[tuple[int, str], ...]
    users: tuple[str, ...]
    models: tuple[str, ...]
    tags: tuple[str, ...]
