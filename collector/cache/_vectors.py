"""Where the semantic cache keeps its questions: per bucket, the vectors of questions
answered and the exact-cache key of each answer (the answer itself stays in the response
cache's store, so it expires and is evicted with it; a vector whose answer is gone is a miss).

In memory: at most ``bucket_size`` vectors per bucket and ``max_vectors`` in all (the least
recently used bucket gives up its oldest first), each expiring with the answer's TTL. In
Redis: one list per bucket (newest first, trimmed to ``bucket_size``, expiring a TTL after its
last write), shared by every gateway process. A search is a linear scan: one matrix product.
A store that fails answers "no match" and drops the write: the cache never breaks traffic.
"""

from __future__ import annotations

import logging
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from collector.cache._semantic import Vector, best_match

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from collector.settings import Settings

log = logging.getLogger(__name__)
Match = tuple[str, float]  # (the answer's exact-cache key, cosine similarity)


class VectorIndex(Protocol):
    async def search(self, bucket: str, vector: Vector) -> Match | None: ...

    async def add(self, bucket: str, key: str, vector: Vector, ttl_s: float) -> None: ...

    async def aclose(self) -> None: ...


class _Bucket:
    """Rows ``start:start+len`` of a buffer. When the end is reached the live rows move to a
    new buffer of twice their number: appends are amortised O(1), and a buffer holds at most
    twice the rows it held at its last move (a bucket of one question holds two rows)."""

    __slots__ = ("_buffer", "_start", "expires", "keys")

    def __init__(self, dims: int) -> None:
        self.keys: list[str] = []
        self.expires: list[float] = []
        self._buffer: Vector = np.empty((1, dims), dtype=np.float32)
        self._start = 0

    @property
    def dims(self) -> int:
        return int(self._buffer.shape[1])

    @property
    def matrix(self) -> Vector:
        return self._buffer[self._start : self._start + len(self.keys)]

    def append(self, key: str, expires: float, vector: Vector) -> None:
        n, end = len(self.keys), self._start + len(self.keys)
        if end == self._buffer.shape[0]:
            buffer = np.empty((max(2 * n, 1), self.dims), dtype=np.float32)
            buffer[:n] = self._buffer[self._start : end]
            self._buffer, self._start, end = buffer, 0, n
        self._buffer[end] = vector
        self.keys.append(key)
        self.expires.append(expires)

    def drop_first(self, n: int) -> None:
        del self.keys[:n], self.expires[:n]
        self._start = self._start + n if self.keys else 0


class MemoryVectorIndex:
    """Vectors of this process, bounded per bucket and in all."""

    def __init__(
        self, bucket_size: int, max_vectors: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.bucket_size, self.max_vectors = bucket_size, max_vectors
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self.size = 0

    async def search(self, bucket: str, vector: Vector) -> Match | None:
        found = self._buckets.get(bucket)
        if found is None:
            return None
        self._buckets.move_to_end(bucket)
        self._expire(bucket, found)
        best = best_match(found.matrix, vector)
        return None if best is None else (found.keys[best[0]], best[1])

    async def add(self, bucket: str, key: str, vector: Vector, ttl_s: float) -> None:
        found = self._buckets.get(bucket)
        if found is None or found.dims != vector.shape[0]:
            if found is not None:
                self.size -= len(found.keys)
            found = self._buckets[bucket] = _Bucket(vector.shape[0])
        self._buckets.move_to_end(bucket)
        found.append(key, self._clock() + ttl_s, vector)
        self.size += 1
        if len(found.keys) > self.bucket_size:
            self._drop(bucket, found, len(found.keys) - self.bucket_size)
        while self.size > self.max_vectors:
            oldest, victim = next(iter(self._buckets.items()))
            self._drop(oldest, victim, 1)

    def _expire(self, name: str, bucket: _Bucket) -> None:
        now, n = self._clock(), 0
        while n < len(bucket.expires) and bucket.expires[n] <= now:
            n += 1  # entries are appended in time order with one TTL: expired ones lead
        if n:
            self._drop(name, bucket, n)

    def _drop(self, name: str, bucket: _Bucket, n: int) -> None:
        bucket.drop_first(n)
        self.size -= n
        if not bucket.keys:
            del self._buckets[name]

    async def aclose(self) -> None:
        self._buckets.clear()
        self.size = 0


_LEN = struct.Struct("<H")


def encode_item(key: str, vector: Vector) -> bytes:
    raw = key.encode()
    return _LEN.pack(len(raw)) + raw + vector.astype("<f4").tobytes()


def decode_item(data: bytes) -> tuple[str, Vector] | None:
    if len(data) < _LEN.size:
        return None
    (n,) = _LEN.unpack_from(data)
    rest = data[_LEN.size + n :]
    if len(data) < _LEN.size + n or len(rest) % 4:
        return None
    key = data[_LEN.size : _LEN.size + n].decode("utf-8", "replace")
    return key, np.frombuffer(rest, dtype="<f4")


class RedisVectorIndex:
    """One Redis list per bucket under ``prefix:``; errors are logged and count as misses."""

    def __init__(self, url: str, prefix: str, bucket_size: int) -> None:
        from redis.asyncio import Redis

        self._redis: Redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._prefix, self.bucket_size = prefix, bucket_size

    async def search(self, bucket: str, vector: Vector) -> Match | None:
        from redis.exceptions import RedisError

        try:
            name = f"{self._prefix}:{bucket}"
            raw: list[bytes] = await self._redis.lrange(name, 0, self.bucket_size - 1)  # type: ignore[misc]
        except (RedisError, OSError) as exc:
            log.warning("semantic cache: Redis read failed: %s", exc)
            return None
        items = [item for data in raw if (item := decode_item(data)) is not None]
        items = [(k, v) for k, v in items if v.shape == vector.shape]
        if not items:
            return None
        best = best_match(np.stack([v for _, v in items]), vector)
        return None if best is None else (items[best[0]][0], best[1])

    async def add(self, bucket: str, key: str, vector: Vector, ttl_s: float) -> None:
        from redis.exceptions import RedisError

        name = f"{self._prefix}:{bucket}"
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.lpush(name, encode_item(key, vector))
                pipe.ltrim(name, 0, self.bucket_size - 1)
                pipe.pexpire(name, max(1, int(ttl_s * 1000)))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("semantic cache: Redis write failed: %s", exc)

    async def aclose(self) -> None:
        await self._redis.aclose()


def make_index(settings: Settings) -> VectorIndex:
    """Redis when the response cache uses it, else memory."""
    size = settings.cache_semantic_bucket_size
    if settings.cache_redis and settings.redis_url:
        return RedisVectorIndex(settings.redis_url, f"{settings.redis_key_prefix}:semcache", size)
    return MemoryVectorIndex(size, settings.cache_semantic_max_vectors)
