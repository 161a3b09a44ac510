"""Hard-budget counter rows and the values admission passes around.

One ``budget_counters`` row per budget and period (per day for rolling windows) holds
``spent_usd`` and ``reserved_usd``; ``budget_reservations`` lists the open holds so that holds of
a process that died before settling can be released when they expire. A counter row starts
from the spend already recorded in its span when it is first needed. How rows change —
atomically, in batches — is ``_batch``'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from collector.budgets._measure import recorded_spend
from collector.budgets._period import PeriodKind, Window, counter_window
from collector.budgets._spec import BudgetSpec
from collector.db.base import table_of
from collector.db.models import BudgetCounter

_C: Table = table_of(BudgetCounter)
_ZERO = Decimal(0)
DEFAULT_HOLD_TTL = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Hold:
    budget_id: int
    budget_name: str
    period_start: datetime
    amount_usd: Decimal


@dataclass(frozen=True, slots=True)
class Reservation:
    """Money held on one or more hard budgets for one request; settle or release it."""

    id: str
    holds: tuple[Hold, ...]
    amount_usd: Decimal


@dataclass(frozen=True, slots=True)
class Refusal:
    """The first hard budget that cannot afford the request."""

    budget: BudgetSpec
    reset_at: datetime
    spent_usd: Decimal
    reserved_usd: Decimal
    requested_usd: Decimal


@dataclass(frozen=True, slots=True)
class SettledCounter:
    """A counter after settling: lets the caller notice a threshold being crossed."""

    budget_id: int
    spent_before: Decimal
    spent_after: Decimal


def begin_write(conn: Connection) -> None:
    """Start a write transaction; on SQLite take the write lock now (no upgrade later)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _insert_seeded(conn: Connection, budget: BudgetSpec, span: Window, now: datetime) -> None:
    """Create a counter row starting from the spend already recorded in its span."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(_C).values(
        budget_id=budget.id,
        period_start=span.start,
        spent_usd=recorded_spend(conn, budget.scope, span),
        reserved_usd=_ZERO,
        updated_at=now,
    )
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["budget_id", "period_start"]))


def ensure_rows(conn: Connection, budget: BudgetSpec, now: datetime, tz: ZoneInfo) -> None:
    """Create the counter row of ``now`` (and, for rolling windows, of the earlier days)."""
    span = counter_window(budget.period, now, tz)
    spans = [span]
    if budget.period.kind is PeriodKind.ROLLING:
        assert budget.period.days is not None  # noqa: S101 - type narrowing: rolling periods always have days
        spans += [
            counter_window(budget.period, now - timedelta(days=d), tz)
            for d in range(1, budget.period.days)
        ]
    existing = set(
        conn.scalars(
            select(_C.c.period_start).where(
                _C.c.budget_id == budget.id, _C.c.period_start.in_([s.start for s in spans])
            )
        )
    )
    for s in spans:
        if s.start not in existing:
            _insert_seeded(conn, budget, s, now)
