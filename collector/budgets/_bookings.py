"""Spend booked on hard-budget counters once per key (``budget_bookings``).

Two things must be booked exactly once, across retries, replays and processes:

* a call reported to the ingest API (key ``ingest:<request id>``): a replayed call has the
  same request ids, and the rows inserted with ``ON CONFLICT DO NOTHING … RETURNING`` in the
  settle's own transaction say which of its calls are new — only their cost is booked;
* a Batch API job's estimate (key ``job:<batch id>``): booked as the job's spend when it is
  created, and kept here per counter, so that once the poller has recorded the job's lines
  :func:`replace_booked` swaps it for their exact cost — deleting the rows in the same
  transaction as the counter update, so a re-poll, a restart or a second poller books the
  change once.

A reported call's row is needed only while its counter can still bear on an admission: once
the budget's current window has moved past the counter's period, :func:`clean_ended` deletes
it, and ``Admitter.book`` books nothing there any more (the same test, ``period_ended``), so
a replay after the clean cannot book twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Delete, Engine, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from collector.budgets._counters import begin_write
from collector.budgets._period import period_window
from collector.db.base import table_of
from collector.db.models import BatchJob, BudgetBooking, BudgetCounter
from collector.units import MONEY_UNIT

if TYPE_CHECKING:
    from collector.budgets._batch import SettleAsk
    from collector.budgets._spec import BudgetSpec

_B = table_of(BudgetBooking)
_C = table_of(BudgetCounter)
_J = table_of(BatchJob)
_ZERO = Decimal(0)
_INGEST = "ingest:"
_JOB = "job:"


def ingest_key(request_id: str) -> str:
    return f"{_INGEST}{request_id}"


def period_ended(budget: BudgetSpec, period_start: datetime, now: datetime, tz: ZoneInfo) -> bool:
    """Whether the counter of ``budget`` starting at ``period_start`` is behind the budget's
    window at ``now``: no admission sums it any more (pure)."""
    return period_start < period_window(budget.period, now, tz).start


def clean_ended(engine: Engine, budgets: Sequence[BudgetSpec], now: datetime, tz: ZoneInfo) -> int:
    """Delete the reported calls' bookings whose counter period has ended, on every budget of
    ``budgets`` (the rows of a deleted budget went with it); returns how many went. Jobs'
    bookings stay until their lines replace them."""
    deleted = 0
    with engine.begin() as conn:
        for budget in budgets:
            if budget.id is None:
                continue
            start = period_window(budget.period, now, tz).start
            gone = conn.execute(ended_ingest_bookings(budget.id, start))
            deleted += gone.rowcount or 0
    return deleted


def ended_ingest_bookings(budget_id: int, before: datetime) -> Delete:
    """The delete of one budget's reported-call bookings of periods starting before ``before``;
    it reads the ``(budget_id, period_start)`` index (migration 0027), not the whole table."""
    return delete(_B).where(
        _B.c.budget_id == budget_id,
        _B.c.period_start < before,
        _B.c.key.startswith(_INGEST, autoescape=True),
    )


def job_key(batch_id: str) -> str:
    return f"{_JOB}{batch_id}"


@dataclass(slots=True)
class JobTicket:
    """A ``POST /v1/batches`` under a hard budget while it runs: the job id, once upstream
    created it, tells its settle which job the estimate is booked for."""

    batch_id: str | None = None


_CREATING: ContextVar[JobTicket | None] = ContextVar("spendscope_batch_create", default=None)


def start_job_ticket() -> JobTicket:
    """Mark the current request as creating a Batch API job (the request's task only)."""
    ticket = JobTicket()
    _CREATING.set(ticket)
    return ticket


def job_ticket() -> JobTicket | None:
    """The current request's job ticket, if it creates a job."""
    return _CREATING.get()


def _insert(conn: Connection, rows: list[dict[str, object]]) -> set[tuple[str, int]]:
    """Insert booking rows; returns the (key, budget id) pairs that were new."""
    if not rows:
        return set()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(_B).on_conflict_do_nothing(index_elements=["key", "budget_id"])
    found = conn.execute(stmt.returning(_B.c.key, _B.c.budget_id), rows).all()
    return {(key, budget_id) for key, budget_id in found}


def book_once(
    conn: Connection, settles: Sequence[SettleAsk], now: datetime
) -> dict[tuple[int, int], Decimal]:
    """Per settle with ``once`` keys: the cost of its calls not booked before on each of its
    budgets (``{(settle index, budget id): cost}``); their rows are inserted."""
    rows: list[dict[str, object]] = []
    for s in settles:
        for hold in s.reservation.holds:
            for key, cost in s.once:
                rows.append({"key": key, "budget_id": hold.budget_id,
                             "period_start": hold.period_start, "amount_usd": cost,
                             "created_at": now})  # fmt: skip
    new = _insert(conn, rows)
    out: dict[tuple[int, int], Decimal] = {}
    for i, s in enumerate(settles):
        for hold in s.reservation.holds:
            if s.once:
                fresh = sum((c for k, c in s.once if (k, hold.budget_id) in new), _ZERO)
                out[(i, hold.budget_id)] = fresh
    return out


def keep_booked(conn: Connection, settles: Sequence[SettleAsk], now: datetime) -> None:
    """Remember what a job's settle booked on each counter (``SettleAsk.keep``)."""
    rows: list[dict[str, object]] = [
        {
            "key": s.keep,
            "budget_id": h.budget_id,
            "period_start": h.period_start,
            "amount_usd": s.actual,
            "created_at": now,
        }
        for s in settles
        if s.keep is not None
        for h in s.reservation.holds
    ]
    _insert(conn, rows)


@dataclass(frozen=True, slots=True)
class JobCost:
    """What a closed job's rows cost: ``priced_usd`` exactly, and ``unpriced`` of its
    ``lines`` that could not be priced, which keep their share of the estimate."""

    priced_usd: Decimal
    unpriced: int = 0
    lines: int = 1

    @property
    def unpriced_share(self) -> Decimal:
        return Decimal(self.unpriced) / Decimal(self.lines) if self.lines else _ZERO

    def replacing(self, booked: Decimal) -> Decimal:
        """What replaces ``booked`` (the estimate) on one counter."""
        share = self.unpriced_share
        return self.priced_usd + (booked * share).quantize(MONEY_UNIT) if share else self.priced_usd

    @classmethod
    def stored(cls, priced: Decimal, unpriced: int | None, lines: int | None) -> JobCost:
        """The cost as ``batch_jobs`` keeps it (``closed_*`` columns)."""
        return cls(priced, unpriced or 0, lines or 0)


def _job_id(key: str) -> str | None:
    return key[len(_JOB) :] if key.startswith(_JOB) else None


def replace_booked(engine: Engine, job_id: str, cost: JobCost, now: datetime) -> Decimal | None:
    """Replace what was booked for job ``job_id`` by ``cost`` (its lines' exact cost, the
    unpriced ones keeping their share of the estimate); returns the change booked on each
    counter (None: nothing was booked, or it was replaced already).

    The cost is first written on the job (the first closer's stays), in a transaction of its
    own: a settle booking the estimate later reads it there and books it instead
    (:func:`settle_closed`), and one booking it meanwhile is waited for (its row lock), so
    the estimate is replaced whichever reaches the database first."""
    cost = _note_closed(engine, job_id, cost)
    key = job_key(job_id)
    with engine.connect() as conn:
        begin_write(conn)
        try:
            found = conn.execute(
                select(_B.c.budget_id, _B.c.period_start).where(_B.c.key == key)
            ).all()
            if not found:
                conn.rollback()
                return None
            _lock_counters(conn, [(b, p) for b, p in found])
            gone = conn.execute(
                delete(_B)
                .where(_B.c.key == key)
                .returning(_B.c.budget_id, _B.c.period_start, _B.c.amount_usd)
            ).all()
            change = None
            for budget_id, start, amount in gone:
                change = cost.replacing(amount) - amount
                conn.execute(
                    update(_C)
                    .where(_C.c.budget_id == budget_id, _C.c.period_start == start)
                    .values(spent_usd=_C.c.spent_usd + change, updated_at=now)
                )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return change


def _note_closed(engine: Engine, job_id: str, cost: JobCost) -> JobCost:
    """Write ``cost`` on the job unless a closer wrote one before; returns the one written
    (``cost`` itself for a job this database does not know)."""
    with engine.begin() as conn:
        conn.execute(
            update(_J)
            .where(_J.c.id == job_id, _J.c.closed_priced_usd.is_(None))
            .values(
                closed_priced_usd=cost.priced_usd,
                closed_unpriced=cost.unpriced,
                closed_lines=cost.lines,
            )
        )
        row = conn.execute(
            select(_J.c.closed_priced_usd, _J.c.closed_unpriced, _J.c.closed_lines).where(
                _J.c.id == job_id
            )
        ).first()
    if row is None or row[0] is None:
        return cost
    return JobCost.stored(*row)


def settle_closed(conn: Connection, settles: Sequence[SettleAsk]) -> list[SettleAsk]:
    """``settles`` with each that would keep a job's estimate booked, for a job closed
    already, booking the job's cost instead (and keeping nothing). The jobs' rows are locked
    first on PostgreSQL, so a closer writing its cost meanwhile is waited for."""
    ids = sorted({j for s in settles if s.keep and (j := _job_id(s.keep)) is not None})
    if not ids:
        return list(settles)
    query = select(_J.c.id, _J.c.closed_priced_usd, _J.c.closed_unpriced, _J.c.closed_lines)
    query = query.where(_J.c.id.in_(ids)).order_by(_J.c.id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    closed = {
        job: JobCost.stored(priced, unpriced, lines)
        for job, priced, unpriced, lines in conn.execute(query)
        if priced is not None
    }
    out: list[SettleAsk] = []
    for s in settles:
        cost = closed.get(_job_id(s.keep) or "") if s.keep else None
        out.append(s if cost is None else replace(s, actual=cost.replacing(s.actual), keep=None))
    return out


def _lock_counters(conn: Connection, keys: Sequence[tuple[int, datetime]]) -> None:
    """PostgreSQL: lock the counters in (budget, period) order, as admission does."""
    if conn.dialect.name != "postgresql":
        return
    conds = [and_(_C.c.budget_id == b, _C.c.period_start == p) for b, p in sorted(keys)]
    conn.execute(
        select(_C.c.budget_id)
        .where(or_(*conds))
        .order_by(_C.c.budget_id, _C.c.period_start)
        .with_for_update()
    )
