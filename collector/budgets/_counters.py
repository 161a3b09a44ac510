"""Hard-budget reservations: atomic in the database, so limits hold across processes.

A request reserves its worst-case cost on every hard budget that covers it, in one
transaction, budgets in id order (one lock order, so no deadlocks). Each hold is one
conditional UPDATE::

    UPDATE budget_counters SET reserved_usd = reserved_usd + :r
     WHERE budget_id = :b AND period_start = :p
       AND spent_usd + reserved_usd + :carry + :r <= :amount

The row count says admitted (1) or not (0); PostgreSQL re-checks the condition on the
locked row, SQLite runs writers one at a time, so no two holds can both fit the last dollar.
``carry`` is the spend of the earlier days of a rolling window (closed days; 0 otherwise).
Settling replaces the hold with the actual cost; holds left by a crashed process expire and
:func:`sweep_expired` releases them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BindParameter,
    Connection,
    Engine,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from collector.budgets._measure import recorded_spend
from collector.budgets._period import PeriodKind, Window, counter_window, period_window
from collector.budgets._period import reset_time as _reset_time
from collector.budgets._spec import BudgetSpec
from collector.db.models import BudgetCounter, BudgetReservation
from collector.db.types import Money

_C: Table = BudgetCounter.__table__  # type: ignore[assignment]
_R: Table = BudgetReservation.__table__  # type: ignore[assignment]
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


def _money(name: str) -> BindParameter[Decimal]:
    return bindparam(name, type_=Money())


def _carry(conn: Connection, budget_id: int, window: Window, span: Window) -> Decimal:
    if window.start >= span.start:
        return _ZERO
    total = conn.execute(
        select(type_coerce(func.sum(_C.c.spent_usd + _C.c.reserved_usd), Money())).where(
            _C.c.budget_id == budget_id,
            _C.c.period_start >= window.start,
            _C.c.period_start < span.start,
        )
    ).scalar()
    return Decimal(total) if total is not None else _ZERO


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


def _ensure_rows(conn: Connection, budget: BudgetSpec, now: datetime, tz: ZoneInfo) -> None:
    """Create the counter row of ``now`` (and, for rolling windows, of the earlier days)."""
    span = counter_window(budget.period, now, tz)
    spans = [span]
    if budget.period.kind is PeriodKind.ROLLING:
        assert budget.period.days is not None
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


_HOLD = (
    update(_C)
    .where(
        _C.c.budget_id == bindparam("b"),
        _C.c.period_start == bindparam("p"),
        _C.c.spent_usd + _C.c.reserved_usd + _money("carry") + _money("r") <= _money("amount"),
    )
    .values(reserved_usd=_C.c.reserved_usd + _money("r"), updated_at=bindparam("now"))
)


def _hold_one(
    conn: Connection, budget: BudgetSpec, amount: Decimal, now: datetime, tz: ZoneInfo
) -> Hold | None:
    """Try the conditional UPDATE; create the counter rows on first use and retry once."""
    assert budget.id is not None
    window = period_window(budget.period, now, tz)
    span = counter_window(budget.period, now, tz)
    params = {"b": budget.id, "p": span.start, "r": amount, "amount": budget.amount_usd}
    for attempt in range(2):
        params["carry"] = _carry(conn, budget.id, window, span)
        if conn.execute(_HOLD, {**params, "now": now}).rowcount == 1:
            return Hold(budget.id, budget.name, span.start, amount)
        if attempt == 0:
            _ensure_rows(conn, budget, now, tz)
    return None


def _refusal(
    conn: Connection, budget: BudgetSpec, amount: Decimal, now: datetime, tz: ZoneInfo
) -> Refusal:
    window = period_window(budget.period, now, tz)
    row = conn.execute(
        select(
            type_coerce(func.sum(_C.c.spent_usd), Money()),
            type_coerce(func.sum(_C.c.reserved_usd), Money()),
        ).where(
            _C.c.budget_id == budget.id,
            _C.c.period_start >= window.start,
            _C.c.period_start < window.end,
        )
    ).one()
    return Refusal(
        budget=budget,
        reset_at=_reset_time(budget.period, now, tz),
        spent_usd=row[0] if row[0] is not None else _ZERO,
        reserved_usd=row[1] if row[1] is not None else _ZERO,
        requested_usd=amount,
    )


def reserve(
    engine: Engine,
    budgets: Sequence[BudgetSpec],
    amount: Decimal,
    now: datetime,
    tz: ZoneInfo,
    ttl: timedelta = DEFAULT_HOLD_TTL,
) -> Reservation | Refusal:
    """Hold ``amount`` on every budget, all or nothing; the first that cannot afford refuses."""
    if amount < 0:
        raise ValueError("a reservation cannot be negative")
    rid = uuid.uuid4().hex
    holds: list[Hold] = []
    with engine.connect() as conn:
        for budget in sorted(budgets, key=lambda b: b.id or 0):
            hold = _hold_one(conn, budget, amount, now, tz)
            if hold is None:
                refusal = _refusal(conn, budget, amount, now, tz)
                conn.rollback()
                return refusal
            holds.append(hold)
        if holds:
            conn.execute(insert_holds(rid, holds, now, now + ttl))
        conn.commit()
    return Reservation(rid, tuple(holds), amount)


def insert_holds(rid: str, holds: Sequence[Hold], now: datetime, expires: datetime) -> Insert:
    rows = [
        {
            "id": rid,
            "budget_id": h.budget_id,
            "period_start": h.period_start,
            "amount_usd": h.amount_usd,
            "created_at": now,
            "expires_at": expires,
        }
        for h in holds
    ]
    return insert(_R).values(rows)


def _finish(
    conn: Connection, rid: str, hold: Hold, actual: Decimal, now: datetime
) -> SettledCounter | None:
    """Drop one hold (if not already swept) and book ``actual`` as spent."""
    gone = conn.execute(delete(_R).where(_R.c.id == rid, _R.c.budget_id == hold.budget_id))
    held = hold.amount_usd if gone.rowcount == 1 else _ZERO
    row = conn.execute(
        update(_C)
        .where(_C.c.budget_id == hold.budget_id, _C.c.period_start == hold.period_start)
        .values(
            reserved_usd=_C.c.reserved_usd - _money("held"),
            spent_usd=_C.c.spent_usd + _money("actual"),
            updated_at=now,
        )
        .returning(_C.c.spent_usd),
        {"held": held, "actual": actual},
    ).first()
    if row is None:  # the budget was deleted meanwhile
        return None
    return SettledCounter(hold.budget_id, row[0] - actual, row[0])


def settle(
    engine: Engine, reservation: Reservation, actual_cost: Decimal, now: datetime
) -> list[SettledCounter]:
    """Replace the hold by the request's actual cost on every budget it was held on."""
    if actual_cost < 0:
        raise ValueError("a cost cannot be negative")
    out: list[SettledCounter] = []
    with engine.begin() as conn:
        for hold in reservation.holds:
            done = _finish(conn, reservation.id, hold, actual_cost, now)
            if done is not None:
                out.append(done)
    return out


def release(engine: Engine, reservation: Reservation, now: datetime) -> None:
    """Give the held money back (the request failed before costing anything)."""
    settle(engine, reservation, _ZERO, now)


def sweep_expired(engine: Engine, now: datetime) -> int:
    """Release holds whose process never settled them; returns how many were released."""
    with engine.begin() as conn:
        rows = conn.execute(
            select(_R.c.id, _R.c.budget_id, _R.c.period_start, _R.c.amount_usd)
            .where(_R.c.expires_at <= now)
            .order_by(_R.c.budget_id)
        ).all()
        for rid, budget_id, start, amount in rows:
            _finish(conn, rid, Hold(budget_id, "", start, amount), _ZERO, now)
    return len(rows)
