"""Quota leasing: one database transaction reserves headroom for many requests of a process.

Far from its limit, a hard budget need not be asked about every request. The process reserves
a *lease* — an ordinary hold (``budget_reservations`` row, counted in ``reserved_usd``) of
``budget_lease_requests`` times the request's worst case, at most 1/32 of the budget, in
whole worst cases — and
admits later requests from it in memory: a request takes its worst case from the lease, its
settle gives that back and notes its actual cost. A lease is retired when it cannot fit a
request or after ``budget_lease_max_age_s``; once its last request has settled, one settle
books all their actual cost as spent and frees the rest.

Exactness is the ledger's: the database only ever holds leases that fit under the limit (a
lease is a reservation, decided under the row locks like any other), and a process admits
from a lease only while the worst cases of its open requests plus the cost of its settled
ones fit in it. Near the limit a lease does not fit (or would be smaller than two requests):
the request is then reserved on its own, exactly as without leasing, so the headroom other
processes can use is never locked up in a lease. A crashed process's leases expire like any
hold; the hold sweeper then reconciles spent with the recorded requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from collector.budgets._batch import Key, ReserveAsk, SettleAsk
from collector.budgets._counters import Refusal, Reservation
from collector.budgets._ledger import Ledger
from collector.budgets._period import Period, Window, counter_window
from collector.budgets._spec import BudgetSpec

LEASE_SHARE = Decimal(1) / 32  # a lease is at most this share of its budget
_ZERO = Decimal(0)


@dataclass(eq=False, slots=True)
class Lease:
    """Headroom held on one budget counter for this process (see the module docstring)."""

    key: Key
    reservation: Reservation
    amount: Decimal
    inflight: Decimal = _ZERO  # worst cases of admitted requests not yet settled
    unbooked: Decimal = _ZERO  # actual cost of settled requests, booked when it closes
    retiring: bool = False
    closed: bool = False

    @property
    def free(self) -> Decimal:
        return self.amount - self.inflight - self.unbooked

    def take(self, worst: Decimal) -> bool:
        if self.retiring or self.free < worst:
            return False
        self.inflight += worst
        return True


class LeasePool:
    """The leases of one process, one active per budget counter; used from its event loop."""

    def __init__(self, ledger: Ledger, tz: ZoneInfo, requests: int, max_age_s: float) -> None:
        self._ledger, self._tz = ledger, tz
        self._requests, self._max_age_s = requests, max_age_s
        self._active: dict[Key, Lease] = {}
        self._open: set[Lease] = set()  # active or retiring, until booked
        self._pending: dict[Key, asyncio.Task[Lease | None]] = {}
        self._tight: dict[Key, float] = {}  # counter → until when a lease did not fit
        self._spans: dict[tuple[int, Period], Window] = {}  # last counter span per budget
        self.leased = 0  # leases taken (for benchmarks and tests)

    async def admit(
        self, budgets: Sequence[BudgetSpec], worst: Decimal, now: datetime
    ) -> tuple[Lease, ...] | None:
        """Take ``worst`` from a lease of every budget, or None: reserve this one exactly.

        Raises the database error if a lease could not be asked for.
        """
        if self._requests <= 0:
            return None
        taken: list[Lease] = []
        try:
            for budget in sorted(budgets, key=lambda b: b.id or 0):
                lease = await self._lease_for(budget, worst, now)
                if lease is None:
                    self.settle(taken, worst, _ZERO)
                    return None
                taken.append(lease)
        except BaseException:
            self.settle(taken, worst, _ZERO)
            raise
        return tuple(taken)

    def settle(self, leases: Sequence[Lease], worst: Decimal, actual: Decimal) -> None:
        """A request admitted from ``leases`` ended having cost ``actual``."""
        for lease in leases:
            lease.inflight -= worst
            lease.unbooked += actual
            self._close_if_done(lease)

    def retire_all(self, *, force: bool = False) -> None:
        """Retire every lease (budgets changed, or shutting down: ``force`` books open
        requests at their worst case, since their settles will not come — also on leases
        already retired that were waiting for them)."""
        for lease in list(self._active.values()):
            self._retire(lease)
        if not force:
            return
        for lease in list(self._open):
            if not lease.closed:
                lease.unbooked += lease.inflight
                lease.inflight = _ZERO
                self._close_if_done(lease)

    def _counter(self, budget: BudgetSpec, now: datetime) -> Key:
        """The counter row ``now`` falls in (its span cached: no timezone math per request)."""
        slot = (budget.id or 0, budget.period)
        span = self._spans.get(slot)
        if span is None or not span.start <= now < span.end:
            span = self._spans[slot] = counter_window(budget.period, now, self._tz)
        return (slot[0], span.start)

    async def _lease_for(self, budget: BudgetSpec, worst: Decimal, now: datetime) -> Lease | None:
        key = self._counter(budget, now)
        size = lease_size(worst, self._requests, budget.amount_usd)
        for _ in range(3):
            lease = self._active.get(key)
            if lease is not None:
                if lease.take(worst):
                    if lease.free < lease.amount / 2 and key not in self._pending:
                        self._start(budget, key, size, now)  # the next one, before it runs out
                    return lease
                self._retire(lease)
            if size < worst * 2 or self._tight.get(key, 0.0) > time.monotonic():
                return None
            task = self._pending.get(key) or self._start(budget, key, size, now)
            if await asyncio.shield(task) is None:
                return None
        return None

    def _start(
        self, budget: BudgetSpec, key: Key, size: Decimal, now: datetime
    ) -> asyncio.Task[Lease | None]:
        task = asyncio.get_running_loop().create_task(self._acquire(budget, key, size, now))
        task.add_done_callback(_consume)
        self._pending[key] = task
        return task

    async def _acquire(
        self, budget: BudgetSpec, key: Key, size: Decimal, now: datetime
    ) -> Lease | None:
        try:
            result = await self._ledger.reserve(ReserveAsk((budget,), size, now))
        finally:
            del self._pending[key]
        if isinstance(result, Refusal):
            self._tight[key] = time.monotonic() + self._max_age_s
            return None
        lease = Lease(key, result, size)
        self._open.add(lease)
        self.leased += 1
        old = self._active.get(key)
        if old is not None:  # prefetched: the new lease takes over, the old one returns
            self._retire(old)
        self._active[key] = lease
        asyncio.get_running_loop().call_later(self._max_age_s, self._retire, lease)
        return lease

    def _retire(self, lease: Lease) -> None:
        if lease.retiring:
            return
        lease.retiring = True
        if self._active.get(lease.key) is lease:
            del self._active[lease.key]
        self._close_if_done(lease)

    def _close_if_done(self, lease: Lease) -> None:
        if lease.retiring and not lease.closed and lease.inflight <= 0:
            lease.closed = True
            self._open.discard(lease)
            self._ledger.settle_nowait(SettleAsk(lease.reservation, lease.unbooked))


def lease_size(worst: Decimal, requests: int, amount: Decimal) -> Decimal:
    """``requests`` worst cases, at most ``LEASE_SHARE`` of the budget, in whole worst cases,
    so a lease retired because the next equal request did not fit holds nothing unused while
    its open requests finish (a burst retires dozens of leases at once; each one's leftover
    fraction was headroom another process's requests were refused for)."""
    if worst <= 0:
        return min(worst * requests, amount * LEASE_SHARE)
    return worst * min(requests, int(amount * LEASE_SHARE / worst))


def _consume(task: asyncio.Task[Lease | None]) -> None:
    """Retrieve a failed prefetch's error (database down): nobody may await it; the next
    request that needs a lease asks again and sees the error itself."""
    if not task.cancelled():
        task.exception()
