"""The async front of the counters: requests queue their reserves and settles; one batch at a
time carries everything queued so far into the database (group commit, see ``_batch``).

A reserve waits for its batch (admission needs the answer). A settle never has to: the
gateway's ``settle_nowait`` queues it and returns, so no response waits on the database; the
next batch books it, before any reserve queued with it — freed headroom is seen at once. While
the database is unreachable, settles are kept (up to ``MAX_PENDING_SETTLES``) and retried every
``RETRY_S``; a settle that lands after the sweeper released its hold still books its cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from collector.budgets._batch import ReserveAsk, SettleAsk, apply_batch
from collector.budgets._counters import Refusal, Reservation, SettledCounter

_log = logging.getLogger("collector.budgets")
MAX_BATCH = 512
MAX_PENDING_SETTLES = 100_000
RETRY_S = 1.0
UNREACHABLE = (OperationalError, InterfaceError)

_T = TypeVar("_T")
_Outcome = tuple[list["Reservation | Refusal | Exception"], list[SettledCounter]]
_Reserve = tuple[ReserveAsk, "asyncio.Future[Reservation | Refusal]"]
_Settle = tuple[SettleAsk, "asyncio.Future[list[SettledCounter]] | None"]


class Ledger:
    """One per process; all methods run on the event loop, the batches in a worker thread."""

    def __init__(
        self,
        engine: Engine,
        tz: ZoneInfo,
        ttl: timedelta,
        on_settled: Callable[[list[SettledCounter]], None] | None = None,
    ) -> None:
        self._engine, self._tz, self._ttl = engine, tz, ttl
        self._on_settled = on_settled
        self._reserves: deque[_Reserve] = deque()
        self._settles: deque[_Settle] = deque()
        self._task: asyncio.Task[None] | None = None
        self._conn: Connection | None = None  # kept between batches; used by one batch at a time
        self.batches = 0  # batches committed (for benchmarks and tests)

    @property
    def pending(self) -> int:
        return len(self._reserves) + len(self._settles)

    async def reserve(self, ask: ReserveAsk) -> Reservation | Refusal:
        """Admitted (holds placed) or refused; raises the database error if the batch failed."""
        future: asyncio.Future[Reservation | Refusal] = asyncio.get_running_loop().create_future()
        self._reserves.append((ask, future))
        self._kick()
        return await future

    async def settle(self, ask: SettleAsk) -> list[SettledCounter]:
        """Settle and wait until it is committed (raises if its batch failed; it is retried)."""
        future: asyncio.Future[list[SettledCounter]] = asyncio.get_running_loop().create_future()
        self._queue_settle(ask, future)
        return await future

    def settle_nowait(self, ask: SettleAsk) -> None:
        """Queue a settle for the next batch and return at once."""
        self._queue_settle(ask, None)

    async def flush(self, within_s: float) -> bool:
        """Wait (up to ``within_s``) until everything queued is committed; False if not."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                while self._task is not None and not self._task.done():
                    await asyncio.shield(self._task)
        return self.pending == 0

    async def aclose(self, within_s: float = 5.0) -> None:
        """Commit what is queued (bounded by ``within_s``), then stop; leftovers are logged."""
        flushed = await self.flush(within_s)
        if not flushed:
            _log.warning(
                "budgets: %d settles not booked at shutdown; their holds expire and the "
                "recorder keeps their cost",
                len(self._settles),
            )
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        conn, self._conn = self._conn, None
        if conn is not None and flushed:  # else a batch may still be using it in its thread
            await asyncio.to_thread(conn.close)

    def _queue_settle(
        self, ask: SettleAsk, future: asyncio.Future[list[SettledCounter]] | None
    ) -> None:
        if len(self._settles) >= MAX_PENDING_SETTLES:
            self._settles.popleft()
            _log.warning("budgets: settle queue full; dropped the oldest (its hold will expire)")
        self._settles.append((ask, future))
        self._kick()

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain(), name="ledger")

    async def _drain(self) -> None:
        while self._reserves or self._settles:
            reserves = _take(self._reserves, MAX_BATCH)
            settles = _take(self._settles, MAX_BATCH)
            try:
                outcome = await asyncio.to_thread(self._apply, reserves, settles)
            except Exception as exc:
                if self._failed(exc, reserves, settles) and not self._reserves:
                    await asyncio.sleep(RETRY_S)
                continue
            self._done(outcome, reserves, settles)

    def _apply(self, reserves: Sequence[_Reserve], settles: Sequence[_Settle]) -> _Outcome:
        """The batch; if it fails for a reason other than reachability, each item alone."""
        asks, settle_asks = [a for a, _ in reserves], [s for s, _ in settles]
        try:
            result = apply_batch(self._bind(), asks, settle_asks, tz=self._tz, ttl=self._ttl)
            return list(result.decisions), result.settled
        except UNREACHABLE:
            self._drop_connection()
            raise
        except DBAPIError:
            if len(asks) + len(settle_asks) == 1:
                raise
        decisions: list[Reservation | Refusal | Exception] = []
        for ask in asks:
            try:
                decisions += apply_batch(
                    self._engine, [ask], [], tz=self._tz, ttl=self._ttl
                ).decisions
            except DBAPIError as exc:
                decisions.append(exc)
        settled: list[SettledCounter] = []
        for one in settle_asks:
            try:
                settled += apply_batch(self._engine, [], [one]).settled
            except DBAPIError as exc:
                _log.error("budgets: settle of %s failed: %s", one.reservation.id, exc)
        return decisions, settled

    def _bind(self) -> Engine | Connection:
        """PostgreSQL: one connection kept open (no pool checkout + ping per batch)."""
        if self._engine.dialect.name != "postgresql":
            return self._engine
        if self._conn is None:
            self._conn = self._engine.connect()
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()

    def _done(
        self, outcome: _Outcome, reserves: Sequence[_Reserve], settles: Sequence[_Settle]
    ) -> None:
        self.batches += 1
        decisions, settled = outcome
        for (_, future), decision in zip(reserves, decisions, strict=True):
            if future.done():
                continue
            if isinstance(decision, Exception):
                future.set_exception(decision)
            else:
                future.set_result(decision)
        for _, waiter in settles:
            if waiter is not None and not waiter.done():
                waiter.set_result(settled)
        if settled and self._on_settled is not None:
            try:
                self._on_settled(settled)
            except Exception:
                _log.exception("budgets: threshold callback failed")

    def _failed(
        self, exc: Exception, reserves: Sequence[_Reserve], settles: Sequence[_Settle]
    ) -> bool:
        """Fail the reserves; keep the settles for a retry when the database is unreachable."""
        for _, future in reserves:
            if not future.done():
                future.set_exception(exc)
        for _, waiter in settles:
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc)
        if isinstance(exc, UNREACHABLE):
            self._settles.extendleft(reversed([(ask, None) for ask, _ in settles]))
            return bool(settles)
        if settles:
            _log.error("budgets: %d settles failed and are dropped: %r", len(settles), exc)
        return False


def _take(queue: deque[_T], most: int) -> list[_T]:
    return [queue.popleft() for _ in range(min(most, len(queue)))]
