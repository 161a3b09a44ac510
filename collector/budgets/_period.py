"""Budget periods and their windows in a configured timezone.

Calendar periods (``day``, ``week`` = ISO week from Monday, ``month``) start at local midnight
in the budget timezone, so a DST change gives a 23- or 25-hour day. ``rolling:Nd`` is
day-granular: the last N local calendar days including today, i.e. from local midnight
N-1 days ago to the next local midnight. Spend leaves a rolling window a whole day at a time,
which is what lets hard budgets keep one counter row per day. Windows are UTC-aware.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.budgets._errors import BudgetConfigError

MAX_ROLLING_DAYS = 366
_ROLLING = re.compile(r"rolling:(\d+)d")


class PeriodKind(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    ROLLING = "rolling"


@dataclass(frozen=True, slots=True)
class Period:
    kind: PeriodKind
    days: int | None = None  # only for rolling

    def __str__(self) -> str:
        return f"rolling:{self.days}d" if self.kind is PeriodKind.ROLLING else self.kind.value


@dataclass(frozen=True, slots=True)
class Window:
    """[start, end) of one period, UTC-aware."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start


def parse_period(text: str) -> Period:
    raw = text.strip()
    if raw in ("day", "week", "month"):
        return Period(PeriodKind(raw))
    found = _ROLLING.fullmatch(raw)
    if found is None:
        raise BudgetConfigError(f"bad period {text!r}; use day, week, month or rolling:Nd")
    days = int(found[1])
    if not 1 <= days <= MAX_ROLLING_DAYS:
        raise BudgetConfigError(f"rolling period must be 1..{MAX_ROLLING_DAYS} days, got {days}")
    return Period(PeriodKind.ROLLING, days)


def parse_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BudgetConfigError(f"unknown timezone {name!r} (use an IANA name)") from None


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of a local calendar day, in UTC.

    A midnight skipped by DST resolves (fold=0) to the instant the clocks jump, which is
    indeed the first instant of that day.
    """
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def period_window(period: Period, now: datetime, tz: ZoneInfo) -> Window:
    """The window of ``period`` that contains ``now`` (aware)."""
    if now.tzinfo is None:
        raise BudgetConfigError("now must be timezone-aware")
    today = now.astimezone(tz).date()
    if period.kind is PeriodKind.DAY:
        first, after = today, today + timedelta(days=1)
    elif period.kind is PeriodKind.WEEK:
        first = today - timedelta(days=today.weekday())
        after = first + timedelta(days=7)
    elif period.kind is PeriodKind.MONTH:
        first = today.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    else:
        assert period.days is not None  # noqa: S101 - type narrowing: rolling periods always have days
        first = today - timedelta(days=period.days - 1)
        after = today + timedelta(days=1)
    return Window(local_midnight(first, tz), local_midnight(after, tz))


def counter_window(period: Period, now: datetime, tz: ZoneInfo) -> Window:
    """The span one hard-budget counter row covers: the period, or today for rolling."""
    if period.kind is PeriodKind.ROLLING:
        return period_window(Period(PeriodKind.DAY), now, tz)
    return period_window(period, now, tz)


def reset_time(period: Period, now: datetime, tz: ZoneInfo) -> datetime:
    """When spend next leaves the window: period end, or next local midnight for rolling."""
    return counter_window(period, now, tz).end
