"""Current status of every budget (CLI ``budgets list``, alert evaluator): one read each.

Spent = the larger of what the recorder has rolled up and what hard-budget counters booked:
both are lower bounds of the truth (counters miss traffic that bypassed the gateway, rollups
lag the recorder by a flush), so the larger is the better one. Reserved comes from counters.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Table, func, select, type_coerce

from collector.budgets._evaluate import BudgetStatus, evaluate
from collector.budgets._measure import recorded_spend
from collector.budgets._period import Window, period_window
from collector.budgets._spec import BudgetSpec
from collector.budgets._store import load_budgets
from collector.db.base import table_of
from collector.db.models import BudgetCounter
from collector.db.types import Money

_C: Table = table_of(BudgetCounter)
_ZERO = Decimal(0)


def _counter_totals(conn: Connection, budget_id: int, window: Window) -> tuple[Decimal, Decimal]:
    row = conn.execute(
        select(
            type_coerce(func.sum(_C.c.spent_usd), Money()),
            type_coerce(func.sum(_C.c.reserved_usd), Money()),
        ).where(
            _C.c.budget_id == budget_id,
            _C.c.period_start >= window.start,
            _C.c.period_start < window.end,
        )
    ).one()
    return (row[0] or _ZERO, row[1] or _ZERO)


def budget_status(
    conn: Connection, budget: BudgetSpec, now: datetime, tz: ZoneInfo
) -> BudgetStatus:
    window = period_window(budget.period, now, tz)
    recorded = recorded_spend(conn, budget.scope, window)
    booked, reserved = _counter_totals(conn, budget.id or 0, window)
    return evaluate(budget, window, max(recorded, booked), reserved, now)


def budget_statuses(
    engine: Engine, now: datetime, tz: ZoneInfo, budgets: list[BudgetSpec] | None = None
) -> list[BudgetStatus]:
    specs = budgets if budgets is not None else load_budgets(engine)
    with engine.connect() as conn:
        return [budget_status(conn, b, now, tz) for b in specs]
