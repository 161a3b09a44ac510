"""Where cached answers live: this process's memory (TTL, entry and byte bounds, LRU) or
Redis (``SET … PX``, shared by every gateway process; its memory bound is Redis's own
``maxmemory`` policy). A store that fails answers a miss and drops the write: the cache
never breaks traffic.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from collector.settings import Settings

log = logging.getLogger(__name__)


class CacheStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """An LRU of at most ``max_entries`` answers and ``max_bytes`` bytes; each expires."""

    def __init__(
        self,
        max_entries: int,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if expires <= self._clock():
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        if len(value) > self.max_bytes:
            return
        if key in self._items:
            self._drop(key)
        self._items[key] = (self._clock() + ttl_s, value)
        self.bytes += len(value)
        while len(self._items) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._items)))

    def _drop(self, key: str) -> None:
        _, value = self._items.pop(key)
        self.bytes -= len(value)

    async def aclose(self) -> None:
        self._items.clear()
        self.bytes = 0


class RedisStore:
    """Answers under ``prefix:`` in Redis; errors are logged and count as misses."""

    def __init__(self, url: str, prefix: str) -> None:
        from redis.asyncio import Redis

        self._redis: Redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._prefix = prefix

    async def get(self, key: str) -> bytes | None:
        from redis.exceptions import RedisError

        try:
            value = await self._redis.get(f"{self._prefix}:{key}")
        except (RedisError, OSError) as exc:
            log.warning("response cache: Redis read failed: %s", exc)
            return None
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        from redis.exceptions import RedisError

        try:
            await self._redis.set(f"{self._prefix}:{key}", value, px=max(1, int(ttl_s * 1000)))
        except (RedisError, OSError) as exc:
            log.warning("response cache: Redis write failed: %s", exc)

    async def aclose(self) -> None:
        await self._redis.aclose()


def make_store(settings: Settings) -> CacheStore:
    """Redis when configured (and not turned off for the cache), else memory."""
    if settings.cache_redis and settings.redis_url:
        return RedisStore(settings.redis_url, f"{settings.redis_key_prefix}:cache")
    return MemoryStore(settings.cache_max_entries, settings.cache_max_bytes)
