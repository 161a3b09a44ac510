"""Redis rate-limit leases: most requests admitted in memory, never more than the limit.

Each test reads the real Redis counters (127.0.0.1:6379, db 15) to check the accounting:
a counter always equals the units used plus the units a process holds unused.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
import redis
from redis.asyncio import Redis

from collector.ratelimit import Limit, RedisLimiter, window_position
from tests.ratelimit.test_limiters import T0
from tests.support.redis_server import REDIS_URL, require_redis
from tests.support.wait import until

LEASE = 8  # requests per lease in these tests
INDEX = window_position(T0)[0]


def rpm(n: int) -> Limit:
    return Limit("key:7:rpm", n, 1, "requests per minute of key k")


def tpm(n: int, cost: int) -> Limit:
    return Limit("key:7:tpm", n, cost, "tokens per minute of key k")


@pytest.fixture
def prefix() -> Iterator[str]:
    require_redis()
    name = f"test-{uuid.uuid4().hex}"
    yield name
    cleanup = redis.Redis.from_url(REDIS_URL)
    for key in cleanup.scan_iter(f"{name}:*"):
        cleanup.delete(key)


@pytest.fixture
async def leased(prefix: str) -> AsyncIterator[RedisLimiter]:
    lim = RedisLimiter(Redis.from_url(REDIS_URL), prefix, lease_requests=LEASE)
    yield lim
    await lim.aclose()


def idle(lim: RedisLimiter) -> bool:
    """Nothing queued for Redis and no script call in flight."""
    return not lim._queue and (lim._task is None or lim._task.done())


def counter(prefix: str, key: str, index: int = INDEX) -> int:
    value = redis.Redis.from_url(REDIS_URL).get(f"{prefix}:{key}:{index}")
    assert value is None or isinstance(value, bytes)  # the synchronous client's answer
    return int(value or 0)


async def test_one_redis_call_leases_headroom_for_the_next_requests(
    leased: RedisLimiter, prefix: str
) -> None:
    assert (await leased.acquire([rpm(3200)], T0)).allowed
    assert counter(prefix, "key:7:rpm") == 1 + LEASE  # the request and its lease
    for _ in range(LEASE // 2):
        assert (await leased.acquire([rpm(3200)], T0)).allowed
    await until(lambda: idle(leased), what="the limiter idle")  # no refill was asked for
    assert counter(prefix, "key:7:rpm") == 1 + LEASE  # admitted in memory
    assert leased.leases.granted == 1
    assert (await leased.acquire([rpm(3200)], T0)).allowed  # below half: topped up meanwhile
    await until(lambda: leased.leases.granted == 2 and idle(leased), what="the top-up")
    assert (counter(prefix, "key:7:rpm"), leased.leases.granted) == (1 + 2 * LEASE, 2)
    for _ in range(LEASE // 2 - 1 + LEASE):  # the rest of both, in memory
        assert (await leased.acquire([rpm(3200)], T0)).allowed
    await leased.aclose()
    assert counter(prefix, "key:7:rpm") == 1 + 2 * LEASE  # all used: nothing to give back


async def test_unused_headroom_is_given_back_at_shutdown(prefix: str) -> None:
    lim = RedisLimiter(Redis.from_url(REDIS_URL), prefix, lease_requests=LEASE)
    assert (await lim.acquire([rpm(3200), tpm(10**6, 100)], T0)).allowed
    await lim.add(["key:7:tpm"], 250, T0)  # late usage comes out of the lease
    assert counter(prefix, "key:7:tpm") == 100 + LEASE * 100
    await lim.aclose()
    assert (counter(prefix, "key:7:rpm"), counter(prefix, "key:7:tpm")) == (1, 350)


async def test_a_lease_is_not_used_in_the_next_window(leased: RedisLimiter, prefix: str) -> None:
    assert (await leased.acquire([rpm(3200)], T0)).allowed
    assert (await leased.acquire([rpm(3200)], T0 + timedelta(seconds=60))).allowed
    # the old window got its unused units back; the new one has the request and a lease
    assert counter(prefix, "key:7:rpm") == 1
    assert counter(prefix, "key:7:rpm", INDEX + 1) == 1 + LEASE


async def test_a_refund_goes_back_into_the_lease(leased: RedisLimiter, prefix: str) -> None:
    limits = [rpm(3200)]
    for _ in range(3):
        assert (await leased.acquire(limits, T0)).allowed
    await leased.refund(limits, T0)
    await leased.aclose()
    assert counter(prefix, "key:7:rpm") == 2


async def test_a_lease_is_not_used_against_a_changed_limit(leased: RedisLimiter) -> None:
    for _ in range(3):
        assert (await leased.acquire([rpm(3200)], T0)).allowed
    refused = await leased.acquire([rpm(3)], T0)  # lowered: the lease's 6 units are not used
    assert not refused.allowed and refused.exceeded == rpm(3)


async def test_small_limits_are_never_leased(leased: RedisLimiter, prefix: str) -> None:
    # 1/32 of 40 is one request: less than two, so every request asks Redis (exact)
    decisions = await asyncio.gather(*(leased.acquire([rpm(40)], T0) for _ in range(45)))
    assert sum(d.allowed for d in decisions) == 40
    assert (leased.leases.granted, counter(prefix, "key:7:rpm")) == (0, 40)


async def test_one_process_admits_exactly_the_limit(leased: RedisLimiter) -> None:
    """Its own unused lease is given back before a request is refused."""
    limits = [rpm(640), tpm(640 * 50, 50)]
    decisions = await asyncio.gather(*(leased.acquire(limits, T0) for _ in range(700)))
    assert sum(d.allowed for d in decisions) == 640
    assert leased.leases.granted >= 1
    refused = next(d for d in decisions if not d.allowed)
    assert refused.retry_after_s is not None and refused.retry_after_s >= 1


_WORKER = """
import asyncio, json, sys
from datetime import datetime
from redis.asyncio import Redis
from collector.ratelimit import Limit, RedisLimiter

async def main() -> None:
    url, prefix, limit, calls, lease, now = sys.argv[1:7]
    limiter = RedisLimiter(Redis.from_url(url), prefix, lease_requests=int(lease))
    limits = [Limit("key:7:rpm", int(limit), 1, "rpm")]
    at = datetime.fromisoformat(now)
    sys.stdin.readline()  # both processes start together
    gate = asyncio.Semaphore(4)  # a few at a time: most admitted from leases

    async def one() -> bool:
        async with gate:
            await asyncio.sleep(0)
            return (await limiter.acquire(limits, at)).allowed

    allowed = await asyncio.gather(*(one() for _ in range(int(calls))))
    await limiter.aclose()
    print(json.dumps({"admitted": sum(allowed), "leases": limiter.leases.granted}))

asyncio.run(main())
"""


def test_two_processes_never_admit_more_than_the_limit(prefix: str) -> None:
    """Two processes share one Redis limit: at most the limit admitted, and less than one and
    a half leases (the other process's unused headroom, refill included) short of it."""
    limit, calls = 1280, 1000  # lease: min(8, 1280 / 32) = 8 requests
    argv = [REDIS_URL, prefix, str(limit), str(calls), str(LEASE), T0.isoformat()]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs, leases = [], 0
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        answer = json.loads(out)
        outs.append(answer["admitted"])
        leases += answer["leases"]
    admitted = sum(outs)
    assert limit - LEASE * 3 // 2 <= admitted <= limit, outs
    assert leases >= limit // LEASE // 2  # most requests were admitted from leases
    assert counter(prefix, "key:7:rpm") == admitted  # both gave their unused units back
