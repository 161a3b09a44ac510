"""Hard-budget counters changed in batches: one transaction settles and reserves many requests.

This is group commit for admission. Every counter row a batch needs is locked first, in
(budget, period) order — PostgreSQL ``SELECT … ORDER BY … FOR UPDATE``; SQLite ``BEGIN
IMMEDIATE``, its one write lock — so no other process can change a value the batch decides
on until it commits, and two batches never deadlock. Then, under those locks:

1. settles: their holds are deleted (``RETURNING`` says which were still there — a hold the
   sweeper released is not given back twice) and their actual cost is booked as spent;
2. reserves, in arrival order: a request is admitted only if *every* hard budget covering it
   still fits ``spent + reserved + request ≤ amount`` over its window (all or nothing);
3. one UPDATE per changed counter (deltas) and one INSERT of the new holds; one COMMIT.

The limit is exact across processes for the same reason a single conditional UPDATE is: each
decision reads locked rows. The cost is a few statements and one fsync per *batch*, not per
request. A counter row is created (seeded from the recorded spend) in its own transaction the
first time a period is used.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from collector.budgets._bookings import book_once, keep_booked, settle_closed
from collector.budgets._counters import (
    DEFAULT_HOLD_TTL,
    Hold,
    Refusal,
    Reservation,
    SettledCounter,
    begin_write,
    ensure_rows,
)
from collector.budgets._period import counter_window, period_window, reset_time
from collector.budgets._spec import BudgetSpec
from collector.db.base import table_of
from collector.db.models import BudgetCounter, BudgetReservation
from collector.db.types import Money

_C: Table = table_of(BudgetCounter)
_R: Table = table_of(BudgetReservation)
_ZERO = Decimal(0)
_UTC = ZoneInfo("UTC")
Key = tuple[int, datetime]  # (budget id, period start) of one counter row


@dataclass(frozen=True, slots=True)
class ReserveAsk:
    """One request asking to hold ``amount`` on each of its hard budgets at ``now``."""

    budgets: tuple[BudgetSpec, ...]
    amount: Decimal
    now: datetime


@dataclass(frozen=True, slots=True)
class SettleAsk:
    """Replace a reservation's holds by the request's actual cost.

    ``once``: reported calls (booking key, cost) — only those never booked before are, and
    ``actual`` is then ignored. ``keep``: a job's booking key, under which what is booked is
    remembered until its lines replace it (``_bookings``).
    """

    reservation: Reservation
    actual: Decimal
    once: tuple[tuple[str, Decimal], ...] = ()
    keep: str | None = None


@dataclass(slots=True)
class BatchResult:
    decisions: list[Reservation | Refusal]  # one per ReserveAsk, in order
    settled: list[SettledCounter]  # one per counter the settles touched
    released: int  # holds the settles found and removed


def _money(name: str) -> BindParameter[Decimal]:
    return bindparam(name, type_=Money())


_BUMP = (
    update(_C)
    .where(_C.c.budget_id == bindparam("b"), _C.c.period_start == bindparam("p"))
    .values(
        spent_usd=_C.c.spent_usd + _money("ds"),
        reserved_usd=_C.c.reserved_usd + _money("dr"),
        updated_at=bindparam("now"),
    )
)


class _Rows:
    """The locked counter rows of one batch: values as read, and as this batch leaves them."""

    def __init__(self, rows: Sequence[tuple[int, datetime, Decimal, Decimal]]) -> None:
        self.before: dict[Key, tuple[Decimal, Decimal]] = {(b, p): (s, r) for b, p, s, r in rows}
        self.now: dict[Key, list[Decimal]] = {k: list(v) for k, v in self.before.items()}
        self.by_budget: dict[int, list[Key]] = defaultdict(list)
        for key in self.now:
            self.by_budget[key[0]].append(key)

    def sums(self, budget_id: int, start: datetime, end: datetime) -> tuple[Decimal, Decimal]:
        spent = reserved = _ZERO
        for key in self.by_budget.get(budget_id, ()):
            if start <= key[1] < end:
                spent += self.now[key][0]
                reserved += self.now[key][1]
        return spent, reserved

    def changes(self, now: datetime) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for key, (spent, reserved) in self.now.items():
            old_spent, old_reserved = self.before[key]
            if (spent, reserved) != (old_spent, old_reserved):
                ds, dr = spent - old_spent, reserved - old_reserved
                out.append({"b": key[0], "p": key[1], "ds": ds, "dr": dr, "now": now})
        return out


def _conditions(
    reserves: Sequence[ReserveAsk], settles: Sequence[SettleAsk], tz: ZoneInfo
) -> list[ColumnElement[bool]]:
    ranges: set[tuple[int, datetime, datetime]] = set()
    for ask in reserves:
        for b in ask.budgets:
            window = period_window(b.period, ask.now, tz)
            ranges.add((b.id or 0, window.start, window.end))
    exact = {(h.budget_id, h.period_start) for s in settles for h in s.reservation.holds}
    conds = [
        and_(_C.c.budget_id == b, _C.c.period_start >= start, _C.c.period_start < end)
        for b, start, end in sorted(ranges)
    ]
    conds += [and_(_C.c.budget_id == b, _C.c.period_start == p) for b, p in sorted(exact)]
    return conds


def _lock(conn: Connection, conds: list[ColumnElement[bool]]) -> _Rows:
    begin_write(conn)
    if not conds:
        return _Rows([])
    stmt = (
        select(_C.c.budget_id, _C.c.period_start, _C.c.spent_usd, _C.c.reserved_usd)
        .where(or_(*conds))
        .order_by(_C.c.budget_id, _C.c.period_start)
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return _Rows([tuple(row) for row in conn.execute(stmt)])


def _missing(reserves: Sequence[ReserveAsk], rows: _Rows, tz: ZoneInfo) -> dict[Key, ReserveAsk]:
    """Budgets whose counter row of the asked period does not exist yet."""
    out: dict[Key, ReserveAsk] = {}
    for ask in reserves:
        for b in ask.budgets:
            key = (b.id or 0, counter_window(b.period, ask.now, tz).start)
            if key not in rows.now:
                out.setdefault(key, ReserveAsk((b,), ask.amount, ask.now))
    return out


def _create_rows(conn: Connection, missing: dict[Key, ReserveAsk], tz: ZoneInfo) -> None:
    for ask in missing.values():
        begin_write(conn)
        try:
            ensure_rows(conn, ask.budgets[0], ask.now, tz)
            conn.commit()
        except IntegrityError:  # the budget was deleted meanwhile
            conn.rollback()


def _settle(
    conn: Connection, settles: Sequence[SettleAsk], rows: _Rows, now: datetime
) -> tuple[set[Key], int]:
    ids = sorted({s.reservation.id for s in settles if s.reservation.holds})
    if not ids:
        return set(), 0
    settles = settle_closed(conn, settles)  # a job closed already books its cost, not its estimate
    gone = set(
        conn.execute(delete(_R).where(_R.c.id.in_(ids)).returning(_R.c.id, _R.c.budget_id)).all()
    )
    fresh = book_once(conn, settles, now)
    keep_booked(conn, settles, now)
    touched: set[Key] = set()
    for i, s in enumerate(settles):
        for hold in s.reservation.holds:
            key = (hold.budget_id, hold.period_start)
            values = rows.now.get(key)
            if values is None:  # the budget was deleted meanwhile
                continue
            held = hold.amount_usd if (s.reservation.id, hold.budget_id) in gone else _ZERO
            values[0] += fresh.get((i, hold.budget_id), _ZERO) if s.once else s.actual
            values[1] -= held
            touched.add(key)
    return touched, len(gone)


def _decide(ask: ReserveAsk, rows: _Rows, tz: ZoneInfo) -> Reservation | Refusal:
    """Admit if every budget still fits (then hold on each), else the first refusal."""
    fits: list[tuple[BudgetSpec, Key]] = []
    for b in sorted(ask.budgets, key=lambda x: x.id or 0):
        key = (b.id or 0, counter_window(b.period, ask.now, tz).start)
        if key not in rows.now:  # deleted meanwhile: nothing left to enforce
            continue
        window = period_window(b.period, ask.now, tz)
        spent, reserved = rows.sums(key[0], window.start, window.end)
        if spent + reserved + ask.amount > b.amount_usd:
            return Refusal(b, reset_time(b.period, ask.now, tz), spent, reserved, ask.amount)
        fits.append((b, key))
    for _, key in fits:
        rows.now[key][1] += ask.amount
    holds = tuple(Hold(key[0], b.name, key[1], ask.amount) for b, key in fits)
    return Reservation(uuid.uuid4().hex, holds, ask.amount)


def _hold_rows(decisions: Sequence[Reservation | Refusal], asks: Sequence[ReserveAsk],
               ttl: timedelta) -> list[dict[str, object]]:  # fmt: skip
    return [
        {
            "id": r.id,
            "budget_id": h.budget_id,
            "period_start": h.period_start,
            "amount_usd": h.amount_usd,
            "created_at": ask.now,
            "expires_at": ask.now + ttl,
        }
        for r, ask in zip(decisions, asks, strict=True)
        if isinstance(r, Reservation)
        for h in r.holds
    ]


def apply_batch(
    bind: Engine | Connection,
    reserves: Sequence[ReserveAsk],
    settles: Sequence[SettleAsk],
    *,
    tz: ZoneInfo = _UTC,
    ttl: timedelta = DEFAULT_HOLD_TTL,
) -> BatchResult:
    """Settle, then reserve, in one transaction (see the module docstring).

    ``bind`` is an engine, or a connection outside any transaction that is reused (the
    ledger's: no pool checkout and ping per batch).
    """
    if not any(a.budgets for a in reserves) and not any(s.reservation.holds for s in settles):
        return BatchResult([Reservation(uuid.uuid4().hex, (), a.amount) for a in reserves], [], 0)
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return _apply(conn, reserves, settles, tz, ttl)
    return _apply(bind, reserves, settles, tz, ttl)


def _apply(conn: Connection, reserves: Sequence[ReserveAsk], settles: Sequence[SettleAsk],
           tz: ZoneInfo, ttl: timedelta) -> BatchResult:  # fmt: skip
    conds = _conditions(reserves, settles, tz)
    try:
        rows = _lock(conn, conds)
        missing = _missing(reserves, rows, tz)
        if missing:
            conn.rollback()
            _create_rows(conn, missing, tz)
            rows = _lock(conn, conds)
        now = max([a.now for a in reserves], default=datetime.now(UTC))
        touched, released = _settle(conn, settles, rows, now)
        decisions = [_decide(ask, rows, tz) for ask in reserves]
        changes = rows.changes(now)
        if changes:
            conn.execute(_BUMP, changes)
        holds = _hold_rows(decisions, reserves, ttl)
        if holds:
            conn.execute(insert(_R), holds)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    settled = [SettledCounter(k[0], rows.before[k][0], rows.now[k][0]) for k in sorted(touched)]
    return BatchResult(decisions, settled, released)


# --- one request at a time (CLI, tests, the sweeper) --------------------------------------


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
    ask = ReserveAsk(tuple(budgets), amount, now)
    return apply_batch(engine, [ask], [], tz=tz, ttl=ttl).decisions[0]


def settle(
    engine: Engine, reservation: Reservation, actual_cost: Decimal, now: datetime
) -> list[SettledCounter]:
    """Replace the hold by the request's actual cost on every budget it was held on."""
    if actual_cost < 0:
        raise ValueError("a cost cannot be negative")
    return apply_batch(engine, [], [SettleAsk(reservation, actual_cost)]).settled


def release(engine: Engine, reservation: Reservation, now: datetime) -> None:
    """Give the held money back (the request failed before costing anything)."""
    settle(engine, reservation, _ZERO, now)


def sweep_expired(engine: Engine, now: datetime) -> int:
    """Release holds whose process never settled them; returns how many were released."""
    return release_expired(engine, now)[0]


def release_expired(engine: Engine, now: datetime) -> tuple[int, frozenset[tuple[int, datetime]]]:
    """Release holds whose process never settled them: how many were released, and the
    (budget id, period start) counters they were held in (for ``reconcile_spent``)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(_R.c.id, _R.c.budget_id, _R.c.period_start, _R.c.amount_usd).where(
                _R.c.expires_at <= now
            )
        ).all()
    holds: dict[str, list[Hold]] = defaultdict(list)
    for rid, budget_id, start, amount in rows:
        holds[rid].append(Hold(budget_id, "", start, amount))
    asks = [
        SettleAsk(Reservation(rid, tuple(h), h[0].amount_usd), _ZERO) for rid, h in holds.items()
    ]
    if not asks:
        return 0, frozenset()
    periods = frozenset((budget_id, start) for _, budget_id, start, _ in rows)
    return apply_batch(engine, [], asks).released, periods
