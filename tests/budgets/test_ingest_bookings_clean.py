"""Reported calls' bookings (``ingest:<request id>``) do not pile up: once the budget's window
has moved past their period the sweep deletes them, and a replay of such a call books
nothing again (its period can no longer bear on an admission)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, select

from collector.budgets import (
    BudgetSpec,
    Mode,
    Subject,
    create_budget,
    ended_ingest_bookings,
    parse_period,
    parse_scope,
)
from collector.db.models import BudgetBooking, BudgetCounter
from tests.budgets.test_admission import admitter
from tests.factories import make_project

DAY1 = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
ACME = Subject("acme", "sk-ss-abc", None, "gpt-4o-mini", {})
COST = Decimal("0.250000")


def _keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.scalars(select(BudgetBooking.key)))


def _spent(engine: Engine) -> dict[datetime, Decimal]:
    with engine.connect() as conn:
        query = select(BudgetCounter.period_start, BudgetCounter.spent_usd)
        return {p.replace(tzinfo=UTC) if p.tzinfo is None else p: s for p, s in conn.execute(query)}


async def test_ended_periods_bookings_are_cleaned_and_never_rebooked(engine: Engine) -> None:
    make_project(engine, "acme")
    spec = BudgetSpec("acme-day", parse_scope("project:acme"), parse_period("day"), Decimal(50),
                      Mode.HARD)  # fmt: skip
    create_budget(engine, spec, DAY1)
    a = admitter(engine)
    await a.book([(ACME, COST, DAY1, "req_1"), (ACME, COST, DAY1, "req_2")], DAY1)
    assert await a.ledger.flush(10)
    await a.sweep(DAY1 + timedelta(hours=1))  # the day is still running: kept
    assert _keys(engine) == ["ingest:req_1", "ingest:req_2"]
    await a.book([(ACME, COST, DAY2, "req_3")], DAY2)
    assert await a.ledger.flush(10)
    await a.sweep(DAY2)  # day 1 has ended: its bookings go, day 2's stay
    assert _keys(engine) == ["ingest:req_3"]
    await a.book([(ACME, COST, DAY1, "req_1"), (ACME, COST, DAY2, "req_3")], DAY2)  # a replay
    assert await a.ledger.flush(10)
    day1, day2 = (d.replace(hour=0) for d in (DAY1, DAY2))
    assert _spent(engine) == {day1: COST * 2, day2: COST}  # nothing booked twice
    await a.aclose()


def test_the_clean_reads_the_budget_period_index(engine: Engine) -> None:
    """The clean's own delete, explained on each backend: it reads the index, not the table."""
    with engine.begin() as conn:
        compiled = ended_ingest_bookings(1, DAY2).compile(dialect=conn.dialect)
        args: tuple[object, ...] | dict[str, object]
        if conn.dialect.name == "sqlite":
            args = tuple(compiled.params[name] for name in compiled.positiontup or ())
            sql = f"EXPLAIN QUERY PLAN {compiled}"
        else:  # an empty table: forbid the scan to see which index the planner can use
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            args, sql = dict(compiled.params), f"EXPLAIN {compiled}"
        plan = " ".join(str(row) for row in conn.exec_driver_sql(sql, args).all())
    assert "ix_budget_bookings_budget_period" in plan, plan
