"""Redis-backed rate limiter: one Lua script checks and charges all limits atomically.

Shared by every gateway process. Calls are group-committed: while one script call is in
flight, the acquires (and late ``add`` charges) that arrive queue up, and the next call carries
all of them — one round trip and one command for many requests. The script handles each
request in arrival order, all or nothing per request, exactly as one call each would.
Counters are ``{prefix}:{limit key}:{window index}`` and expire after two windows. The
caller's clock picks the window (gateway hosts run NTP), which keeps the script deterministic
and testable. Keys share no hash tag: single Redis instance.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from collector.ratelimit._window import WINDOW_S, Decision, Limit, decide, window_position

_log = logging.getLogger("collector.ratelimit")

# Many requests per call. ARGV: ttl_ms, count, then per request: mode (0 = check and charge,
# 1 = charge unchecked), fraction, n, limit_1, cost_1, ... ; KEYS: prev_1, curr_1, ... per
# request. Returns one entry per request: {1} (charged) or {0, i, prev_i, curr_i}.
_BATCH_SCRIPT = """
local ttl = ARGV[1]
local out = {}
local k, a = 0, 3
for r = 1, tonumber(ARGV[2]) do
  local mode, f, n = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local res = {1}
  if mode == 0 then
    for i = 1, n do
      local prev = tonumber(redis.call('GET', KEYS[k + 2*i - 1]) or '0')
      local curr = tonumber(redis.call('GET', KEYS[k + 2*i]) or '0')
      if prev * (1 - f) + curr + tonumber(ARGV[a + 2*i - 1]) > tonumber(ARGV[a + 2*i - 2]) then
        res = {0, i, prev, curr}
        break
      end
    end
  end
  if res[1] == 1 then
    for i = 1, n do
      redis.call('INCRBY', KEYS[k + 2*i], ARGV[a + 2*i - 1])
      redis.call('PEXPIRE', KEYS[k + 2*i], ttl)
    end
  end
  out[r] = res
  k, a = k + 2*n, a + 2*n
end
return out
"""
MAX_BATCH = 256
_Ask = tuple[Sequence[Limit], datetime, bool, "asyncio.Future[list[Any]]"]


class RedisLimiter:
    """Sliding-window counters in Redis, identical in meaning to the in-process limiter."""

    def __init__(self, client: Redis, prefix: str = "spendscope:rl") -> None:
        self._redis = client
        self._prefix = prefix
        self._batch_script = client.register_script(_BATCH_SCRIPT)
        self._queue: deque[_Ask] = deque()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str, prefix: str = "spendscope:rl") -> RedisLimiter:
        return cls(Redis.from_url(url), prefix)

    def _key(self, key: str, index: int) -> str:
        return f"{self._prefix}:{key}:{index}"

    async def acquire(self, limits: Sequence[Limit], now: datetime) -> Decision:
        if not limits:
            return Decision(True)
        result = await self._call(limits, now, unchecked=False)
        if int(result[0]) == 1:
            return Decision(True)
        failed = int(result[1]) - 1
        counts = [(0, 0)] * len(limits)
        counts[failed] = (int(result[2]), int(result[3]))
        _, fraction = window_position(now)
        decision = decide(limits[failed : failed + 1], counts[failed : failed + 1], fraction)
        return decision if not decision.allowed else Decision(False, limits[failed], 1)

    async def add(self, keys: Sequence[str], amount: int, now: datetime) -> None:
        if keys:
            await self._call([Limit(key, 0, amount, "") for key in keys], now, unchecked=True)

    async def _call(self, limits: Sequence[Limit], now: datetime, *, unchecked: bool) -> list[Any]:
        """Queue one request for the next script call and wait for its entry of the result."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._queue.append((limits, now, unchecked, future))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
            keys: list[str] = []
            args: list[Any] = [WINDOW_S * 2000, len(batch)]
            for limits, now, unchecked, _ in batch:
                index, fraction = window_position(now)
                keys += [self._key(lim.key, i) for lim in limits for i in (index - 1, index)]
                args += [1 if unchecked else 0, repr(fraction), len(limits)]
                for lim in limits:
                    args += [lim.limit, lim.cost]
            try:
                results = await self._batch_script(keys=keys, args=args)
            except Exception as exc:
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (*_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def refund(self, limits: Sequence[Limit], now: datetime) -> None:
        """Take back what :meth:`acquire` charged at the same ``now`` (refused later)."""
        index, _ = window_position(now)
        async with self._redis.pipeline(transaction=False) as pipe:
            for lim in limits:
                pipe.decrby(self._key(lim.key, index), lim.cost)
            await pipe.execute()

    async def aclose(self) -> None:
        await self._redis.aclose()
