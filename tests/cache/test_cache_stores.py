"""Both stores keep answers for their TTL; memory holds its entry and byte bounds (LRU)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from collector.cache import CacheStore, MemoryStore, RedisStore, make_store
from collector.settings import load_settings
from tests.support.redis_server import REDIS_URL, require_redis


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CacheStore]:
    if request.param == "memory":
        yield MemoryStore(100, 1 << 20)
        return
    require_redis()
    redis_store = RedisStore(REDIS_URL, f"test-{uuid.uuid4().hex}")
    yield redis_store
    await redis_store.aclose()


async def test_a_stored_answer_is_read_back_until_it_expires(store: CacheStore) -> None:
    assert await store.get("1:k") is None
    await store.set("1:k", b"answer", 0.3)
    assert await store.get("1:k") == b"answer"
    assert await store.get("2:k") is None
    await store.set("1:k", b"newer", 0.3)
    assert await store.get("1:k") == b"newer"
    await asyncio.sleep(0.5)
    assert await store.get("1:k") is None


async def test_memory_entries_expire_by_the_clock() -> None:
    clock = _Clock()
    store = MemoryStore(10, 1000, clock=clock)
    await store.set("a", b"x", 5)
    clock.now += 4.9
    assert await store.get("a") == b"x"
    clock.now += 0.2
    assert await store.get("a") is None
    assert len(store) == 0 and store.bytes == 0


async def test_memory_drops_the_least_recently_used_past_its_entry_bound() -> None:
    store = MemoryStore(2, 1000)
    await store.set("a", b"1", 60)
    await store.set("b", b"2", 60)
    assert await store.get("a") == b"1"  # a is now the most recent
    await store.set("c", b"3", 60)
    assert await store.get("b") is None
    assert await store.get("a") == b"1" and await store.get("c") == b"3"


async def test_memory_holds_its_byte_bound() -> None:
    store = MemoryStore(100, 10)
    await store.set("a", b"12345", 60)
    await store.set("b", b"12345", 60)
    await store.set("c", b"123", 60)
    assert store.bytes <= 10
    assert await store.get("a") is None
    await store.set("huge", b"x" * 11, 60)  # larger than the whole cache: not kept
    assert await store.get("huge") is None
    assert await store.get("c") == b"123"


async def test_an_unreachable_redis_is_a_miss_not_an_error() -> None:
    store = RedisStore("redis://127.0.0.1:1/0", "test")
    await store.set("k", b"v", 10)
    assert await store.get("k") is None
    await store.aclose()


def test_the_store_is_redis_when_configured() -> None:
    assert isinstance(make_store(load_settings(redis_url=REDIS_URL)), RedisStore)
    assert isinstance(
        make_store(load_settings(redis_url=REDIS_URL, cache_redis=False)), MemoryStore
    )
    assert isinstance(make_store(load_settings(redis_url=None)), MemoryStore)
