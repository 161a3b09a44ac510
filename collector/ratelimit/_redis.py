"""Redis-backed rate limiter: one Lua script checks and charges all limits atomically.

Shared by every gateway process. Calls are group-committed: while one script call is in
flight, the acquires (and late ``add`` charges) that arrive queue up, and the next call carries
all of them — one round trip and one command for many requests. The script handles each
request in arrival order, all or nothing per request, exactly as one call each would.
With ``lease_requests`` > 0 a request that reaches Redis also asks for a lease of headroom
(see ``_lease``), so most requests are admitted in memory and never wait for Redis.
Counters are ``{prefix}:{limit key}:{window index}`` and expire after two windows. The
caller's clock picks the window (gateway hosts run NTP), which keeps the script deterministic
and testable. Keys share no hash tag: single Redis instance.

While Redis is unreachable, rate limits fail open: requests are admitted unchecked and a
warning is logged (at most every ``WARN_EVERY_S``) — an outage of the counter store must not
become an outage of the gateway, and hard budgets (in the database) still hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from collector.ratelimit._lease import Leases
from collector.ratelimit._window import (
    ALLOWED,
    WINDOW_S,
    Decision,
    Limit,
    decide,
    window_position,
)

_log = logging.getLogger("collector.ratelimit")

# Many requests per call. ARGV: ttl_ms, count, then per request: mode (0 = check and charge,
# 1 = charge unchecked), fraction, n, then per limit: limit, cost, lease, back_prev, back_curr;
# KEYS: prev_1, curr_1, ... per request. Per request, first the unused lease units
# back_prev / back_curr are subtracted from existing counters; then the request is checked
# and charged; then, per limit with lease > 0, ``lease`` more units are charged if they fit.
# Returns one entry per request: {1, granted_1, ...} (charged) or {0, i, prev_i, curr_i}.
_BATCH_SCRIPT = """
local ttl = ARGV[1]
local out = {}
local k, a = 0, 3
for r = 1, tonumber(ARGV[2]) do
  local mode, f, n = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  for i = 1, n do
    local b = a + 5 * (i - 1)
    for j = 0, 1 do
      local back = tonumber(ARGV[b + 3 + j])
      if back > 0 and redis.call('EXISTS', KEYS[k + 2*i - 1 + j]) == 1 then
        redis.call('DECRBY', KEYS[k + 2*i - 1 + j], back)
      end
    end
  end
  local res = {1}
  if mode == 0 then
    for i = 1, n do
      local b = a + 5 * (i - 1)
      local prev = tonumber(redis.call('GET', KEYS[k + 2*i - 1]) or '0')
      local curr = tonumber(redis.call('GET', KEYS[k + 2*i]) or '0')
      if prev * (1 - f) + curr + tonumber(ARGV[b + 1]) > tonumber(ARGV[b]) then
        res = {0, i, prev, curr}
        break
      end
    end
  end
  if res[1] == 1 then
    for i = 1, n do
      local b = a + 5 * (i - 1)
      local curr = redis.call('INCRBY', KEYS[k + 2*i], ARGV[b + 1])
      local lease, granted = tonumber(ARGV[b + 2]), 0
      if lease > 0 then
        local prev = tonumber(redis.call('GET', KEYS[k + 2*i - 1]) or '0')
        if prev * (1 - f) + curr + lease <= tonumber(ARGV[b]) then
          redis.call('INCRBY', KEYS[k + 2*i], lease)
          granted = lease
        end
      end
      res[i + 1] = granted
      redis.call('PEXPIRE', KEYS[k + 2*i], ttl)
    end
  end
  out[r] = res
  k, a = k + 2*n, a + 5*n
end
return out
"""
# Give units back to counters that still exist (a missing one has expired: nothing to undo).
_RETURN_SCRIPT = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECRBY', KEYS[i], ARGV[i]) end
end
return #KEYS
"""
MAX_BATCH = 256
CLOSE_TIMEOUT_S = 2.0
WARN_EVERY_S = 10.0
_DOWN = (RedisError, OSError, TimeoutError)
_CHECK, _ADD, _REFILL = 0, 1, 2  # ask kinds: check and charge; charge unchecked; top up a lease
_Result = asyncio.Future[list[Any]]
_Ask = tuple[Sequence[Limit], datetime, int, _Result]


class RedisLimiter:
    """Sliding-window counters in Redis, identical in meaning to the in-process limiter.

    ``lease_requests`` > 0 turns on leasing (``_lease``): never more than the limit admitted,
    but less than one and a half leases per other process may sit unused and refuse a
    request early.
    """

    def __init__(
        self, client: Redis, prefix: str = "spendscope:rl", *, lease_requests: int = 0
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._batch_script = client.register_script(_BATCH_SCRIPT)
        self._return_script = client.register_script(_RETURN_SCRIPT)
        self._queue: deque[_Ask] = deque()
        self._task: asyncio.Task[None] | None = None
        self._warned_at = -WARN_EVERY_S
        self.leases = Leases(lease_requests)

    @classmethod
    def from_url(
        cls, url: str, prefix: str = "spendscope:rl", *, lease_requests: int = 0
    ) -> RedisLimiter:
        client = Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)
        return cls(client, prefix, lease_requests=lease_requests)

    def _unreachable(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            _log.warning("rate limits unchecked: Redis unreachable (%s); admitting", exc)

    def _key(self, key: str, index: int) -> str:
        return f"{self._prefix}:{key}:{index}"

    async def acquire(self, limits: Sequence[Limit], now: datetime) -> Decision:
        if not limits:
            return ALLOWED
        if self.leases.enabled:
            index = window_position(now)[0]
            if self.leases.take(limits, index):
                self._refill([lim.key for lim in limits], now, index)
                return ALLOWED
        try:
            result = await self._call(limits, now, _CHECK)
        except _DOWN as exc:
            self._unreachable(exc)
            return ALLOWED
        if int(result[0]) == 1:
            return ALLOWED
        failed = int(result[1]) - 1
        _, fraction = window_position(now)
        counts = [(int(result[2]), int(result[3]))]
        decision = decide(limits[failed : failed + 1], counts, fraction)
        return decision if not decision.allowed else Decision(False, limits[failed], 1)

    async def add(self, keys: Sequence[str], amount: int, now: datetime) -> None:
        if not keys:
            return
        index, _ = window_position(now)
        rest = [(key, self.leases.draw(key, amount, index)) for key in keys]
        self._refill(keys, now, index)
        charges = [Limit(key, 0, left, "") for key, left in rest if left > 0]
        if charges:
            try:
                await self._call(charges, now, _ADD)
            except _DOWN as exc:
                self._unreachable(exc)

    async def refund(self, limits: Sequence[Limit], now: datetime) -> None:
        """Take back what :meth:`acquire` charged at the same ``now`` (refused later): into
        the lease of that window if there is one, else from the Redis counter."""
        index, _ = window_position(now)
        rest = [lim for lim in limits if not self.leases.give_back(lim, index)]
        if not rest:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for lim in rest:
                    pipe.decrby(self._key(lim.key, index), lim.cost)
                await pipe.execute()
        except _DOWN as exc:
            self._unreachable(exc)

    def _refill(self, keys: Sequence[str], now: datetime, index: int) -> None:
        """Top up leases running low in the background: nobody waits for the answer."""
        low = self.leases.running_low(keys, index)
        if low:
            self._queue_ask(low, now, _REFILL).add_done_callback(_consume)

    async def _call(self, limits: Sequence[Limit], now: datetime, kind: int) -> list[Any]:
        """Queue one request for the next script call and wait for its entry of the result."""
        return await self._queue_ask(limits, now, kind)

    def _queue_ask(self, limits: Sequence[Limit], now: datetime, kind: int) -> _Result:
        future: _Result = asyncio.get_running_loop().create_future()
        self._queue.append((limits, now, kind, future))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return future

    def _encode(self, batch: Sequence[_Ask]) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of one script call; takes back unused lease units and asks for new
        leases — with the last request of each limit key, so that no earlier request of the
        call is decided while this process's new lease already counts against it."""
        last: dict[str, int] = {}
        if self.leases.enabled:
            for i, (limits, _, kind, _) in enumerate(batch):
                last.update({lim.key: i for lim in limits if kind != _ADD})
        keys: list[str] = []
        args: list[Any] = [WINDOW_S * 2000, len(batch)]
        for i, (limits, now, kind, _) in enumerate(batch):
            index, fraction = window_position(now)
            keys += [self._key(lim.key, w) for lim in limits for w in (index - 1, index)]
            args += [1 if kind == _ADD else 0, repr(fraction), len(limits)]
            for lim in limits:
                lease, back = 0, (0, 0)
                if kind == _CHECK and self.leases.enabled:
                    back = self.leases.returns(lim.key, index)
                    lease = self.leases.size(lim) if last[lim.key] == i else 0
                elif kind == _REFILL and last[lim.key] == i:
                    lease = self.leases.refill_size(lim, index)
                args += [lim.limit, lim.cost, lease, *back]
        return keys, args

    def _take_queued(self) -> list[_Ask]:
        """The next call's requests; those a lease granted meanwhile covers are admitted now."""
        batch: list[_Ask] = []
        while self._queue and len(batch) < MAX_BATCH:
            ask = self._queue.popleft()
            limits, now, kind, future = ask
            if kind != _CHECK:  # late usage is charged even if nobody waits for it any more
                batch.append(ask)
            elif future.done():  # cancelled: the request is gone, charge nothing
                continue
            elif not self.leases.take(limits, window_position(now)[0]):
                batch.append(ask)
            else:
                future.set_result([1])
        return batch

    async def _drain(self) -> None:
        while self._queue:
            batch = self._take_queued()
            if not batch:
                continue
            keys, args = self._encode(batch)
            try:
                results = await self._batch_script(keys=keys, args=args)
            except Exception as exc:
                self._answer(batch, None, exc)
                continue
            self._answer(batch, results, None)

    def _answer(
        self, batch: Sequence[_Ask], results: Sequence[Any] | None, exc: Exception | None
    ) -> None:
        """Grant the leases the script charged, then wake the requests."""
        for i, (limits, now, kind, future) in enumerate(batch):
            if kind == _REFILL:
                for lim in limits:
                    self.leases.refilled(lim.key)
            result = results[i] if results is not None else None
            if result is not None and kind != _ADD and int(result[0]) == 1:
                index, _ = window_position(now)
                for lim, units in zip(limits, result[1:], strict=True):
                    if int(units) > 0:
                        self.leases.grant(lim, index, int(units))
            if future.done():
                continue
            if result is None:
                future.set_exception(exc or RuntimeError("no answer from the rate-limit script"))
            else:
                future.set_result(result)

    async def aclose(self) -> None:
        """Give unused lease units back (bounded wait), then close the connection."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                if self._task is not None and not self._task.done():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._task)
                owed = self.leases.drain()
                if owed:
                    keys = [self._key(key, index) for key, index, _ in owed]
                    await self._return_script(keys=keys, args=[units for *_, units in owed])
        except _DOWN as exc:
            _log.warning("rate limits: unused lease units not returned at shutdown (%s)", exc)
        await self._redis.aclose()


def _consume(future: _Result) -> None:
    """Retrieve a background refill's error (Redis down): nobody awaits it."""
    if not future.cancelled():
        future.exception()
