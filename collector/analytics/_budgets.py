"""Spend against each budget in its current period, from the rollups.

A first cut for the dashboard: spend is what the rollups recorded in the period (hour
granularity, so a timezone with a non-whole-hour offset is approximate at the edges);
reservations of in-flight hard-budget requests are not included yet.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from collector.analytics._frames import frame
from collector.analytics._model import Filters
from collector.analytics._sql import ZERO, grouped, money, project_names, source_for
from collector.db.models import ApiKey, Budget
from collector.units import MONEY_UNIT

BUDGET_STATUS_COLUMNS = (
    "budget_id", "name", "scope_kind", "scope_value", "period", "mode", "period_start",
    "period_end", "amount_usd", "spent_usd", "forecast_usd", "remaining_usd", "used_pct",
)  # fmt: skip
BURNDOWN_COLUMNS = ("ts", "spent_usd", "cumulative_usd")
_ROLLING = re.compile(r"rolling(?::(\d+)d)?")
_UNIT = MONEY_UNIT


def period_window(
    period: str, rolling_days: int | None, now: datetime, timezone: str = "UTC"
) -> tuple[datetime, datetime]:
    """[start, end) (UTC) of the period containing ``now``, as collector.budgets defines it.

    ``day``/``week`` (from Monday)/``month`` start at local midnight in ``timezone``;
    ``rolling:Nd`` (or ``rolling`` with ``rolling_days``) is the last N local days
    including today, up to the next local midnight.
    """
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    if period == "day":
        first, after = today, today + timedelta(days=1)
    elif period == "week":
        first = today - timedelta(days=today.weekday())
        after = first + timedelta(days=7)
    elif period == "month":
        first = today.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    else:
        found = _ROLLING.fullmatch(period)
        days = int(found[1]) if found and found[1] else rolling_days if found else None
        if not days or days < 1:
            raise ValueError(f"unknown budget period {period!r}")
        first, after = today - timedelta(days=days - 1), today + timedelta(days=1)
    return _midnight(first, zone), _midnight(after, zone)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def forecast(spent: Decimal, start: datetime, end: datetime, now: datetime) -> Decimal:
    """Spend at the end of the period if it goes on at the rate so far."""
    elapsed = Decimal((min(now, end) - start).total_seconds())
    if elapsed <= 0:
        return spent
    total = Decimal((end - start).total_seconds())
    return (spent * total / elapsed).quantize(_UNIT)


def _scope_filters(
    conn: Connection, kind: str, value: str, start: datetime, end: datetime
) -> Filters:
    """Scope → filters: project NAME (or id), key PREFIX (all such keys), user, model, tag."""
    dims: dict[str, Any] = {}
    if kind == "project":
        names = {name: pid for pid, name in project_names(conn).items()}
        pid = names.get(value, int(value) if value.isdigit() else -1)
        dims["project_ids"] = (pid,)
    elif kind == "key":
        ids = conn.scalars(select(ApiKey.id).where(ApiKey.prefix == value)).all()
        dims["api_key_ids"] = tuple(ids) or (-1,)
    elif kind == "user":
        dims["end_users"] = (value,)
    elif kind == "model":
        dims["models"] = (value,)
    elif kind == "tag":
        dims["tags"] = (value,)
    elif kind != "global":
        raise ValueError(f"unknown budget scope {kind!r}")
    return Filters(start, end, **dims)


def budget_status(engine: Engine, now: datetime, timezone: str = "UTC") -> pd.DataFrame:
    """Every budget with its spend in the current period, sorted by name.

    Columns: budget_id, name, scope_kind, scope_value, period, mode, period_start,
    period_end, amount_usd, spent_usd, forecast_usd, remaining_usd (Decimal; negative when
    over), used_pct (float, spent / amount × 100).
    """
    with Session(engine) as session:
        budgets = session.scalars(select(Budget).order_by(Budget.name)).all()
        conn = session.connection()
        rows = [_status_row(conn, b, now, timezone) for b in budgets]
    return frame(rows, BUDGET_STATUS_COLUMNS, floats=("used_pct",))


def _status_row(conn: Connection, b: Budget, now: datetime, timezone: str) -> tuple[Any, ...]:
    start, end = period_window(b.period, b.rolling_days, now, timezone)
    upto = min(max(now, start + timedelta(microseconds=1)), end)
    f = _scope_filters(conn, b.scope_kind, b.scope_value or "", start, upto)
    sums = grouped(conn, f, (), ("cost_usd",), table=source_for(f))
    spent = sum((money(c) for (c,) in sums.values()), ZERO)
    amount = b.amount_usd
    used = float(spent / amount * 100) if amount else None
    return (
        b.id, b.name, b.scope_kind, b.scope_value, b.period, b.mode, start, end, amount,
        spent, forecast(spent, start, end, now), amount - spent, used,
    )  # fmt: skip


def budget_burndown(
    engine: Engine, budget_id: int, now: datetime, timezone: str = "UTC"
) -> pd.DataFrame:
    """Cumulative spend of one budget per UTC day of its current period (empty if unknown).

    Columns: ``ts`` (UTC day start), ``spent_usd``, ``cumulative_usd`` (Decimal). Days
    without spend are listed too, up to ``now``'s day, so the line is continuous.
    """
    with Session(engine) as session:
        b = session.get(Budget, budget_id)
        if b is None:
            return frame([], BURNDOWN_COLUMNS)
        start, end = period_window(b.period, b.rolling_days, now, timezone)
        upto = min(max(now, start + timedelta(microseconds=1)), end)
        conn = session.connection()
        f = _scope_filters(conn, b.scope_kind, b.scope_value or "", start, upto)
        sums = grouped(conn, f, (), ("cost_usd",), table=source_for(f), bucket="day")
    per_day = {ts: money(c) for (ts,), (c,) in sums.items()}
    rows, total = [], ZERO
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < upto:
        total += per_day.get(day, ZERO)
        rows.append((day, per_day.get(day, ZERO), total))
        day += timedelta(days=1)
    return frame(rows, BURNDOWN_COLUMNS)
