"""Both limiters behave the same: in-process, and Redis (the real server at 127.0.0.1:6379)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from redis.asyncio import Redis

from collector.ratelimit import InProcessLimiter, Limit, RateLimiter, RedisLimiter, make_limiter
from collector.settings import load_settings
from tests.support.redis_server import REDIS_URL, require_redis

T0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)  # a window boundary


@pytest.fixture(params=["memory", "redis", "redis-leased"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    """Leasing changes nothing here: these limits are too small for a lease (exact)."""
    if request.param == "memory":
        yield InProcessLimiter()
        return
    require_redis()
    prefix = f"test-{uuid.uuid4().hex}"
    leases = 128 if request.param == "redis-leased" else 0
    lim = RedisLimiter(Redis.from_url(REDIS_URL), prefix, lease_requests=leases)
    yield lim
    cleanup = redis.Redis.from_url(REDIS_URL)
    for key in cleanup.scan_iter(f"{prefix}:*"):
        cleanup.delete(key)
    await lim.aclose()


def rpm(n: int) -> Limit:
    return Limit("key:1:rpm", n, 1, "requests per minute of key k")


async def test_rpm_admits_up_to_the_limit_then_says_when(limiter: RateLimiter) -> None:
    for i in range(5):
        assert (await limiter.acquire([rpm(5)], T0 + timedelta(seconds=i))).allowed
    refused = await limiter.acquire([rpm(5)], T0 + timedelta(seconds=30))
    assert not refused.allowed and refused.exceeded == rpm(5)
    assert refused.retry_after_s == 42  # next window at +60 s, then 20 % of it slid out (12 s)
    assert not (await limiter.acquire([rpm(5)], T0 + timedelta(seconds=71))).allowed
    assert (await limiter.acquire([rpm(5)], T0 + timedelta(seconds=72))).allowed


async def test_concurrent_requests_get_exactly_the_limit(limiter: RateLimiter) -> None:
    """Redis answers concurrent calls in batches: still one decision per request, in order."""
    tpm = Limit("key:1:tpm", 10_000, 1000, "tokens per minute of key k")
    decisions = await asyncio.gather(*(limiter.acquire([rpm(50), tpm], T0) for _ in range(80)))
    assert [d.allowed for d in decisions] == [True] * 10 + [False] * 70
    assert all(d.exceeded == tpm for d in decisions[10:])
    await asyncio.gather(*(limiter.add(["key:1:tpm"], 1, T0) for _ in range(5)))
    refused = await limiter.acquire([Limit("key:1:tpm", 10_005, 1, "t")], T0)
    assert not refused.allowed  # 10,005 charged: the late adds all counted


async def test_all_or_nothing_across_limits(limiter: RateLimiter) -> None:
    tpm = Limit("project:acme:tpm", 1000, 600, "tokens per minute of project acme")
    assert (await limiter.acquire([rpm(10), tpm], T0)).allowed
    refused = await limiter.acquire([rpm(10), tpm], T0 + timedelta(seconds=1))
    assert refused.exceeded == tpm
    # the RPM counter was not charged by the refused request: 9 more fit.
    for _ in range(9):
        assert (await limiter.acquire([rpm(10)], T0 + timedelta(seconds=2))).allowed
    assert not (await limiter.acquire([rpm(10)], T0 + timedelta(seconds=2))).allowed


async def test_late_usage_counts_against_tpm(limiter: RateLimiter) -> None:
    tpm = Limit("key:1:tpm", 1000, 100, "tpm")
    assert (await limiter.acquire([tpm], T0)).allowed
    await limiter.add(["key:1:tpm"], 850, T0)
    refused = await limiter.acquire([tpm], T0 + timedelta(seconds=1))
    assert not refused.allowed and refused.retry_after_s is not None


async def test_never_fitting_request_has_no_retry_after(limiter: RateLimiter) -> None:
    decision = await limiter.acquire([Limit("key:1:tpm", 100, 101, "tpm")], T0)
    assert decision.never


async def test_make_limiter_picks_redis_when_configured() -> None:
    assert isinstance(make_limiter(load_settings()), InProcessLimiter)
    lim = make_limiter(load_settings(redis_url=REDIS_URL))
    assert isinstance(lim, RedisLimiter)
    await lim.aclose()


async def test_redis_unreachable_fails_open_without_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An outage of the counter store must not become an outage of the gateway."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    lim = RedisLimiter.from_url(f"redis://127.0.0.1:{port}/0", "down", lease_requests=128)
    assert (await lim.acquire([rpm(1)], T0)).allowed
    assert (await lim.acquire([rpm(1)], T0)).allowed  # unchecked, not counted
    await lim.add(["key:1:tpm"], 10, T0)
    await lim.refund([rpm(1)], T0)
    await lim.aclose()
    warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 1  # once per WARN_EVERY_S, not per request
