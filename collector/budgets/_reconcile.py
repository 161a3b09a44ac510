"""After a crash: bring hard-budget counters back in line with the recorded requests.

A gateway process that dies (SIGKILL, OOM, power) leaves holds that the sweeper releases when
they expire, but the actual cost of the requests it completed and had not yet booked (queued
settles, the spend of its leases) never reaches ``spent_usd`` — while the requests themselves
are recorded (written by its recorder, or replayed from its spool at the next start). So when
the sweeper releases expired holds it also reconciles: every current counter row of each hard
budget is raised to the spend recorded in its span (the hourly rollups), under the same row
locks as admission.

Only ever raised, never lowered: a live process books a cost when it settles, and its
recorder writes the row on its own schedule, so at any moment either may be ahead of the
other; lowering to the recorded figure could forget spend a live process booked and admit
past the limit. Raising is always safe for the limit. It runs only after holds expired (a
process died), so at worst a request whose row was written just before its settle was
booked is counted twice until the period ends — on the refusing side.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Table, and_, or_, select, update

from collector.budgets._counters import begin_write
from collector.budgets._measure import recorded_spend
from collector.budgets._period import counter_window, period_window
from collector.budgets._spec import BudgetSpec
from collector.db.base import table_of
from collector.db.models import BudgetCounter

_C: Table = table_of(BudgetCounter)


def reconcile_spent(
    engine: Engine,
    budgets: Sequence[BudgetSpec],
    now: datetime,
    tz: ZoneInfo,
    periods: Iterable[tuple[int, datetime]] = (),
) -> Decimal:
    """Raise counters to the recorded spend; returns how much was added in total.

    The counters of each budget's current period, and those named in ``periods`` (budget id,
    period start): where the released holds were (a hold taken at 23:59 of a daily budget
    expires, and is swept, in the next day).
    """
    added = Decimal(0)
    held: dict[int, set[datetime]] = {}
    for budget_id, start in periods:
        held.setdefault(budget_id, set()).add(start)
    with engine.connect() as conn:
        begin_write(conn)
        try:
            for budget in sorted(budgets, key=lambda b: b.id or 0):
                window = period_window(budget.period, now, tz)
                stmt = (
                    select(_C.c.period_start, _C.c.spent_usd)
                    .where(
                        _C.c.budget_id == budget.id,
                        or_(
                            and_(_C.c.period_start >= window.start, _C.c.period_start < window.end),
                            _C.c.period_start.in_(sorted(held.get(budget.id or 0, ()))),
                        ),
                    )
                    .order_by(_C.c.period_start)
                )
                if conn.dialect.name == "postgresql":
                    stmt = stmt.with_for_update()
                for start, spent in conn.execute(stmt).all():
                    span = counter_window(budget.period, start, tz)
                    recorded = recorded_spend(conn, budget.scope, span)
                    if recorded > spent:
                        added += recorded - spent
                        conn.execute(
                            update(_C)
                            .where(_C.c.budget_id == budget.id, _C.c.period_start == start)
                            .values(spent_usd=recorded, updated_at=now)
                        )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return added
