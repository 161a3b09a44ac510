"""Bookings made once per key on SQLite and PostgreSQL: a reported call's cost (a replay
books nothing) and a Batch API job's estimate, replaced by its lines' cost once — also when
two processes replace it at the same moment, and when the job is closed before the settle
booking its estimate reaches the database."""

from __future__ import annotations

import multiprocessing as mp
import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from collector.batches import register
from collector.budgets import (
    BudgetSpec,
    JobCost,
    Mode,
    Reservation,
    SettleAsk,
    apply_batch,
    create_budget,
    job_key,
    parse_period,
    parse_scope,
    replace_booked,
    reserve,
)
from collector.db import make_engine
from collector.db.models import BudgetBooking, BudgetCounter

TZ = ZoneInfo("UTC")
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
ESTIMATE = Decimal("0.8")


def _budgets(engine: Engine) -> list[BudgetSpec]:
    day = parse_period("day")
    return [
        create_budget(
            engine, BudgetSpec(name, parse_scope(scope), day, Decimal(10), Mode.HARD), NOW
        )
        for name, scope in (("all", "global"), ("acme", "project:acme"))
    ]


def _held(engine: Engine, budgets: list[BudgetSpec], amount: Decimal) -> Reservation:
    held = reserve(engine, budgets, amount, NOW, TZ)
    assert isinstance(held, Reservation)
    return held


def _spent(engine: Engine) -> list[tuple[Decimal, Decimal]]:
    with engine.connect() as conn:
        query = select(BudgetCounter.spent_usd, BudgetCounter.reserved_usd)
        return [(s, r) for s, r in conn.execute(query.order_by(BudgetCounter.budget_id))]


def _book_job(engine: Engine) -> None:
    """A job admitted against its estimate, which its settle books and keeps."""
    held = _held(engine, _budgets(engine), ESTIMATE)
    apply_batch(engine, [], [SettleAsk(held, ESTIMATE, keep=job_key("batch_1"))])


def test_a_reported_call_is_booked_once(engine: Engine) -> None:
    budgets = _budgets(engine)
    a, b = ("ingest:a", Decimal("0.25")), ("ingest:b", Decimal("0.5"))
    for once in ((a, b), (a, b), (b,), (a, ("ingest:c", Decimal("1")))):
        held = _held(engine, budgets, Decimal(0))
        apply_batch(engine, [], [SettleAsk(held, Decimal(0), once=once)])
    assert _spent(engine) == [(Decimal("1.75"), Decimal(0))] * 2


def test_a_job_estimate_is_replaced_by_its_lines_cost_once(engine: Engine) -> None:
    _book_job(engine)
    assert _spent(engine) == [(ESTIMATE, Decimal(0))] * 2
    change = replace_booked(engine, "batch_1", JobCost(Decimal("0.3")), NOW)
    assert change == Decimal("-0.5")
    assert _spent(engine) == [(Decimal("0.3"), Decimal(0))] * 2
    # read again: nothing is booked under the key any more
    assert replace_booked(engine, "batch_1", JobCost(Decimal("0.3")), NOW) is None
    assert _spent(engine) == [(Decimal("0.3"), Decimal(0))] * 2
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(BudgetBooking)) == 0


def test_unpriced_lines_keep_their_share_of_the_estimate(engine: Engine) -> None:
    _book_job(engine)
    replace_booked(engine, "batch_1", JobCost(Decimal("0.3"), 1, 4), NOW)
    assert _spent(engine) == [(Decimal("0.5"), Decimal(0))] * 2  # 0.3 + 0.8 / 4


def test_a_job_that_ran_nothing_books_zero(engine: Engine) -> None:
    _book_job(engine)
    replace_booked(engine, "batch_1", JobCost(Decimal(0), 0, 0), NOW)
    assert _spent(engine) == [(Decimal(0), Decimal(0))] * 2


def _replace(url: str, start: Any, out: Any) -> None:
    engine = make_engine(url)
    start.wait()
    out.put(replace_booked(engine, "batch_1", JobCost(Decimal("0.3")), NOW))
    engine.dispose()


def test_two_processes_replace_a_job_booking_once(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    _book_job(engine)
    ctx = mp.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_replace, args=(migrated_url, start, out)) for _ in range(2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
    assert sorted([out.get(timeout=5), out.get(timeout=5)], key=str) == [Decimal("-0.5"), None]
    assert _spent(engine) == [(Decimal("0.3"), Decimal(0))] * 2
    engine.dispose()


def _register(engine: Engine, batch_id: str) -> None:
    wire = {"id": batch_id, "endpoint": "/v1/chat/completions", "status": "validating"}
    assert register(engine, wire, upstream=None, project_id=None, api_key_id=None,
                    end_user=None, tags={}, now=NOW)  # fmt: skip


def test_a_job_closed_before_its_estimate_is_booked_books_its_cost(engine: Engine) -> None:
    _register(engine, "batch_1")
    assert replace_booked(engine, "batch_1", JobCost(Decimal("0.3"), 1, 4), NOW) is None
    _book_job(engine)  # the creating request's settle, queued, lands after the job closed
    assert _spent(engine) == [(Decimal("0.5"), Decimal(0))] * 2  # 0.3 + 0.8 / 4, not 0.8
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(BudgetBooking)) == 0


def test_the_first_closers_cost_is_the_one_booked(engine: Engine) -> None:
    _register(engine, "batch_1")
    replace_booked(engine, "batch_1", JobCost(Decimal("0.3")), NOW)
    replace_booked(engine, "batch_1", JobCost(Decimal(0), 1, 1), NOW)  # a later "lost" closer
    _book_job(engine)
    assert _spent(engine) == [(Decimal("0.3"), Decimal(0))] * 2


def test_a_settle_and_a_close_at_the_same_moment_book_the_cost(engine: Engine) -> None:
    """Each round a settle booking a job's estimate and the job's close run at once; the
    estimate is replaced whichever commits first."""
    budgets, rounds = _budgets(engine), 12
    for i in range(rounds):
        job = f"batch_{i}"
        _register(engine, job)
        held = _held(engine, budgets, ESTIMATE)
        start = threading.Barrier(2)

        def settle(held: Reservation = held, job: str = job, start: Any = start) -> None:
            start.wait()
            apply_batch(engine, [], [SettleAsk(held, ESTIMATE, keep=job_key(job))])

        def close(job: str = job, start: Any = start) -> None:
            start.wait()
            replace_booked(engine, job, JobCost(Decimal("0.1")), NOW)

        threads = [threading.Thread(target=settle), threading.Thread(target=close)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert _spent(engine) == [(Decimal("0.1") * rounds, Decimal(0))] * 2
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(BudgetBooking)) == 0
