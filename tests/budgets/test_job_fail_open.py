"""A Batch API job created while the budget store was down (fail_open) has its estimate
booked once the store is back, and that booking is replaced by its lines' exact cost like
any job's — not left out of the counters for good."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, select

from collector.budgets import JobCost, job_key, replace_booked
from collector.db import make_engine
from collector.db.models import BudgetBooking, BudgetCounter
from collector.settings import load_settings
from tests.budgets.test_admission import _break_sqlite, admitter, budget, ctx
from tests.factories import make_project
from tests.support.templates import migrate

ESTIMATE = Decimal("0.800000")
EXACT = Decimal("0.312345")
LATER = datetime(2026, 11, 15, 18, 0, tzinfo=UTC)


def _counter(engine: Engine) -> tuple[Decimal, Decimal]:
    with engine.connect() as conn:
        [(spent, reserved)] = conn.execute(
            select(BudgetCounter.spent_usd, BudgetCounter.reserved_usd)
        ).all()
    return spent, reserved


def _bookings(engine: Engine) -> list[tuple[str, Decimal]]:
    with engine.connect() as conn:
        query = select(BudgetBooking.key, BudgetBooking.amount_usd)
        return [(k, a) for k, a in conn.execute(query)]


def _restore_sqlite(engine: Engine, db: Path) -> None:
    """The database comes back: what the outage left at its path goes, the file returns."""
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
        gone = Path(f"{db}{suffix}.gone")
        if gone.exists():
            gone.rename(f"{db}{suffix}")


async def test_a_job_admitted_unchecked_is_corrected_by_its_lines(tmp_path: Path) -> None:
    db = tmp_path / "down.db"
    migrate(f"sqlite:///{db}")
    engine = make_engine(f"sqlite:///{db}")
    make_project(engine, "acme")
    budget(engine, "5")
    settings = load_settings(db_failure_policy="fail_open", budget_lease_requests=0)
    a = admitter(engine, settings)
    warm = await a.admit(ctx())  # caches the budgets while the store is up
    await a.release(warm, LATER)
    _break_sqlite(engine, db)
    job = await a.admit(ctx(worst_case_usd=ESTIMATE))
    assert job.unchecked and job.reservation is None
    _restore_sqlite(engine, db)
    await a.settle(job, actual_cost=None, completion_tokens=0, now=LATER, job="batch_down")
    assert _counter(engine) == (ESTIMATE, Decimal(0))  # the estimate counts, as for any job
    assert _bookings(engine) == [(job_key("batch_down"), ESTIMATE)]
    change = replace_booked(engine, "batch_down", JobCost(EXACT), LATER)
    assert change == EXACT - ESTIMATE
    assert _counter(engine) == (EXACT, Decimal(0))
    assert _bookings(engine) == []
    await a.aclose()
    engine.dispose()
