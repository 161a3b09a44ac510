"""Redis-backed rate limiter: one Lua script checks and charges all limits atomically.

Shared by every gateway process. Counters are ``{prefix}:{limit key}:{window index}`` and
expire after two windows. The caller's clock picks the window (gateway hosts run NTP), which
keeps the script deterministic and testable. Keys share no hash tag: single Redis instance.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from collector.ratelimit._window import WINDOW_S, Decision, Limit, decide, window_position

_log = logging.getLogger("collector.ratelimit")

# KEYS: prev_1, curr_1, prev_2, curr_2, ...   ARGV: fraction, ttl_ms, limit_1, cost_1, ...
# Returns {1} when every limit fits (and charges them), else {0, i, prev_i, curr_i}.
_SCRIPT = """
local f = tonumber(ARGV[1])
local n = #KEYS / 2
for i = 1, n do
  local prev = tonumber(redis.call('GET', KEYS[2*i-1]) or '0')
  local curr = tonumber(redis.call('GET', KEYS[2*i]) or '0')
  local limit = tonumber(ARGV[1 + 2*i])
  local cost = tonumber(ARGV[2 + 2*i])
  if prev * (1 - f) + curr + cost > limit then
    return {0, i, prev, curr}
  end
end
for i = 1, n do
  redis.call('INCRBY', KEYS[2*i], ARGV[2 + 2*i])
  redis.call('PEXPIRE', KEYS[2*i], ARGV[2])
end
return {1}
"""


class RedisLimiter:
    """Sliding-window counters in Redis, identical in meaning to the in-process limiter."""

    def __init__(self, client: Redis, prefix: str = "spendscope:rl") -> None:
        self._redis = client
        self._prefix = prefix
        self._script = client.register_script(_SCRIPT)

    @classmethod
    def from_url(cls, url: str, prefix: str = "spendscope:rl") -> RedisLimiter:
        return cls(Redis.from_url(url), prefix)

    def _key(self, key: str, index: int) -> str:
        return f"{self._prefix}:{key}:{index}"

    async def acquire(self, limits: Sequence[Limit], now: datetime) -> Decision:
        if not limits:
            return Decision(True)
        index, fraction = window_position(now)
        keys = [self._key(lim.key, i) for lim in limits for i in (index - 1, index)]
        args: list[Any] = [repr(fraction), WINDOW_S * 2000]
        for lim in limits:
            args += [lim.limit, lim.cost]
        result = await self._script(keys=keys, args=args)
        if int(result[0]) == 1:
            return Decision(True)
        failed = int(result[1]) - 1
        counts = [(0, 0)] * len(limits)
        counts[failed] = (int(result[2]), int(result[3]))
        decision = decide(limits[failed : failed + 1], counts[failed : failed + 1], fraction)
        return decision if not decision.allowed else Decision(False, limits[failed], 1)

    async def add(self, keys: Sequence[str], amount: int, now: datetime) -> None:
        index, _ = window_position(now)
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.incrby(self._key(key, index), amount)
                pipe.pexpire(self._key(key, index), WINDOW_S * 2000)
            await pipe.execute()

    async def aclose(self) -> None:
        await self._redis.aclose()
