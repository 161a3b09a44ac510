"""Group commit of reserves and settles (``apply_batch`` and the async ``Ledger``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from collector.budgets import (
    BudgetSpec,
    Ledger,
    Mode,
    Refusal,
    Reservation,
    ReserveAsk,
    SettleAsk,
    apply_batch,
    budget_statuses,
    create_budget,
    parse_period,
    parse_scope,
)
from collector.db.models import BudgetReservation
from tests.factories import make_project

TZ = ZoneInfo("UTC")
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


def hard(engine: Engine, name: str, scope: str, amount: str) -> BudgetSpec:
    spec = BudgetSpec(name, parse_scope(scope), parse_period("day"), Decimal(amount), Mode.HARD)
    return create_budget(engine, spec, NOW)


def test_settles_in_a_batch_free_headroom_for_its_reserves(engine: Engine) -> None:
    b = hard(engine, "cap", "global", "1.00")
    [held] = apply_batch(engine, [ReserveAsk((b,), Decimal("0.90"), NOW)], []).decisions
    assert isinstance(held, Reservation)
    ask = ReserveAsk((b,), Decimal("0.50"), NOW)
    result = apply_batch(engine, [ask, ask], [SettleAsk(held, Decimal("0.10"))])
    assert [type(d) for d in result.decisions] == [Reservation, Refusal]
    refusal = result.decisions[1]
    assert isinstance(refusal, Refusal)
    assert (refusal.spent_usd, refusal.reserved_usd) == (Decimal("0.10"), Decimal("0.50"))
    [counter] = result.settled
    assert (counter.spent_before, counter.spent_after) == (Decimal(0), Decimal("0.10"))
    assert result.released == 1
    with engine.connect() as conn:  # the settled hold is gone, the new one is listed
        assert conn.execute(select(func.count()).select_from(BudgetReservation)).scalar() == 1


def test_a_request_is_held_on_all_its_budgets_or_none(engine: Engine) -> None:
    make_project(engine, "acme")
    wide = hard(engine, "wide", "global", "1.00")
    narrow = hard(engine, "narrow", "project:acme", "0.30")
    both = ReserveAsk((wide, narrow), Decimal("0.20"), NOW)
    only_wide = ReserveAsk((wide,), Decimal("0.20"), NOW)
    decisions = apply_batch(engine, [both, both, only_wide], [], tz=TZ).decisions
    assert [type(d) for d in decisions] == [Reservation, Refusal, Reservation]
    refused = decisions[1]
    assert isinstance(refused, Refusal) and refused.budget.name == "narrow"
    statuses = {s.budget.name: s for s in budget_statuses(engine, NOW, TZ)}
    assert statuses["wide"].reserved_usd == Decimal("0.40")  # the refused request held nothing
    assert statuses["narrow"].reserved_usd == Decimal("0.20")


def test_late_settle_after_the_sweep_books_spend_without_releasing_twice(engine: Engine) -> None:
    b = hard(engine, "cap", "global", "1.00")
    ask = ReserveAsk((b,), Decimal("0.60"), NOW)
    [held] = apply_batch(engine, [ask], [], ttl=timedelta(seconds=1)).decisions
    assert isinstance(held, Reservation)
    released = SettleAsk(held, Decimal(0))
    assert apply_batch(engine, [], [released]).released == 1  # what the sweeper does
    late = apply_batch(engine, [], [SettleAsk(held, Decimal("0.25"))])
    assert late.released == 0
    [status] = budget_statuses(engine, NOW, TZ)
    assert (status.spent_usd, status.reserved_usd) == (Decimal("0.25"), Decimal(0))


async def test_concurrent_requests_share_batches_and_never_overspend(engine: Engine) -> None:
    b = hard(engine, "cap", "global", "3.00")
    crossed: list[int] = []
    ledger = Ledger(engine, TZ, timedelta(minutes=15), on_settled=lambda c: crossed.append(len(c)))

    async def one() -> bool:
        decision = await ledger.reserve(ReserveAsk((b,), Decimal("0.10"), NOW))
        if isinstance(decision, Refusal):
            return False
        ledger.settle_nowait(SettleAsk(decision, Decimal("0.10")))
        return True

    admitted = await asyncio.gather(*(one() for _ in range(100)))
    assert await ledger.flush(10)
    await ledger.aclose()
    assert sum(admitted) == 30
    assert ledger.batches < 100  # requests shared transactions
    assert crossed  # settles reported their counters
    [status] = budget_statuses(engine, NOW, TZ)
    assert (status.spent_usd, status.reserved_usd) == (Decimal("3.00"), Decimal(0))
