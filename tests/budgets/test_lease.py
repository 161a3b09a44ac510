"""Quota leasing: many admissions from one reserved lease, and the limit still exact."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sqlalchemy import Engine

from collector.budgets import AdmissionTicket, Admitter, budget_statuses, parse_timezone
from collector.errors import BudgetExceeded
from collector.settings import load_settings
from tests.budgets.test_admission import NOW, admitter, budget, ctx
from tests.factories import make_project
from tests.support.wait import until

WORST = Decimal("0.003")  # 1000 prompt × $1 + 500 output × $4 per 1M tokens
UTC = parse_timezone("UTC")


def _status(engine: Engine) -> tuple[Decimal, Decimal]:
    [status] = budget_statuses(engine, NOW, UTC)
    return status.spent_usd, status.reserved_usd


async def test_requests_are_admitted_from_one_lease_and_booked_when_it_returns(
    engine: Engine,
) -> None:
    make_project(engine, "acme")
    budget(engine, "5")  # lease: 52 × $0.003 = $0.156 (1024 worst cases, at most $5 / 32)
    a = admitter(engine, load_settings(budget_lease_max_age_s=60))
    admitted = [await a.admit(ctx()) for _ in range(10)]
    assert all(x.leases and x.reservation is None for x in admitted)
    assert (a.leases.leased, a.ledger.batches) == (1, 1)  # one transaction for ten requests
    assert _status(engine) == (Decimal(0), Decimal("0.156"))
    for x in admitted[:9]:
        await a.settle(x, actual_cost=Decimal("0.002"), completion_tokens=10, now=NOW)
    await a.release(admitted[9], NOW)
    assert _status(engine) == (Decimal(0), Decimal("0.156"))  # booked when the lease returns
    a.leases.retire_all()
    assert await a.ledger.flush(10)
    assert _status(engine) == (Decimal("0.018"), Decimal(0))
    await a.aclose()


async def test_a_full_lease_holds_no_headroom_its_requests_do_not(engine: Engine) -> None:
    """Leases are whole worst cases: while a burst's retired leases wait for their open
    requests, the budget holds exactly those requests' worst cases, nothing more."""
    make_project(engine, "acme")
    budget(engine, "5")
    a = admitter(engine, load_settings(budget_lease_max_age_s=60))
    open_ = [await a.admit(ctx()) for _ in range(52 * 3)]  # three leases' worth, none settled
    assert a.leases.leased >= 3
    await until(lambda: not a.leases._pending, what="prefetched lease in place")
    spent, reserved = _status(engine)
    assert spent == 0
    assert reserved % WORST == 0, reserved  # no fraction of a worst case held anywhere
    for x in open_:
        await a.release(x, NOW)
    await a.aclose()


async def test_a_lease_returns_after_its_max_age(engine: Engine) -> None:
    make_project(engine, "acme")
    budget(engine, "5")
    a = admitter(engine, load_settings(budget_lease_max_age_s=0.05))
    first = await a.admit(ctx())
    await a.settle(first, actual_cost=WORST, completion_tokens=500, now=NOW)
    await until(lambda: all(lease.closed for lease in first.leases), what="retired by age")
    assert await a.ledger.flush(10)
    assert _status(engine) == (WORST, Decimal(0))
    await a.aclose()


async def test_near_the_limit_requests_are_reserved_exactly(engine: Engine) -> None:
    make_project(engine, "acme")
    budget(engine, "0.01")  # 1/32 of it is less than two worst cases: no lease
    a = admitter(engine)
    assert (await a.admit(ctx())).reservation is not None
    assert a.leases.leased == 0
    await a.aclose()


async def _storm(a: Admitter, calls: int) -> int:
    """``calls`` concurrent requests that each cost their worst case; how many got in."""

    async def one() -> bool:
        try:
            admission: AdmissionTicket = await a.admit(ctx())
        except BudgetExceeded:
            return False
        await asyncio.sleep(0)
        await a.settle(admission, actual_cost=WORST, completion_tokens=500, now=NOW)
        return True

    return sum(await asyncio.gather(*(one() for _ in range(calls))))


async def test_two_processes_leasing_one_budget_never_overspend(engine: Engine) -> None:
    make_project(engine, "acme")
    budget(engine, "3.0015")  # affords exactly 1000 requests; leases of 31 requests each
    settings = load_settings(budget_lease_max_age_s=60)
    one, two = admitter(engine, settings), admitter(engine, settings)
    admitted = sum(await asyncio.gather(_storm(one, 700), _storm(two, 700)))
    assert one.leases.leased > 1 and two.leases.leased > 1
    for a in (one, two):
        await a.aclose()
    spent, reserved = _status(engine)
    assert reserved == 0
    assert spent == WORST * admitted
    assert spent <= Decimal("3.0015")
    assert admitted >= 900, admitted  # >= 90 % of what the limit affords


async def test_shutdown_books_a_retired_lease_whose_requests_are_still_open(
    engine: Engine,
) -> None:
    """A lease retired by age stays open until its last request settles; at shutdown that
    settle will not come, so the lease is booked (open requests at their worst case)."""
    make_project(engine, "acme")
    budget(engine, "5")
    a = admitter(engine, load_settings(budget_lease_max_age_s=0.05))
    first, _second = await a.admit(ctx()), await a.admit(ctx())
    await a.settle(first, actual_cost=Decimal("0.002"), completion_tokens=10, now=NOW)
    await until(lambda: all(lease.retiring for lease in first.leases), what="retired by age")
    assert not any(lease.closed for lease in first.leases)  # the second request is still open
    await a.aclose()
    assert _status(engine) == (Decimal("0.002") + WORST, Decimal(0))
