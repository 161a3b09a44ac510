"""A request refused by one policy consumes nothing of another; our refusals are ``blocked``."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from sqlalchemy import Engine

from collector.budgets import BudgetStoreUnavailable
from collector.errors import BudgetExceeded, PolicyRefusal, RateLimited, ServerBusy
from collector.gateway._exchange import Exchange
from collector.ratelimit import InProcessLimiter, RateLimiter, RedisLimiter
from collector.usage import Outcome
from tests.budgets.test_admission import admitter, budget, ctx
from tests.factories import make_project
from tests.support.redis_server import REDIS_URL, require_redis


@pytest.fixture(params=["memory", "redis", "redis-leased"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield InProcessLimiter()
        return
    require_redis()
    client = Redis.from_url(REDIS_URL)
    prefix = f"test-{uuid.uuid4().hex}"
    lim = RedisLimiter(client, prefix, lease_requests=128 if request.param == "redis-leased" else 0)
    yield lim
    async for key in client.scan_iter(f"{prefix}:*"):
        await client.delete(key)
    await lim.aclose()


async def test_a_budget_refusal_does_not_use_up_the_rate_limit(
    engine: Engine, limiter: RateLimiter
) -> None:
    make_project(engine, "acme")
    budget(engine, "0.001")  # less than one worst case ($0.003): every request is refused
    a = admitter(engine, limiter=limiter)
    for _ in range(5):  # an RPM of 2 would refuse the third if refusals were charged
        with pytest.raises(BudgetExceeded):
            await a.admit(ctx(key_rpm=2, key_tpm=3000))
    # the same key, outside the budget's scope: its full allowance is still there
    await a.admit(ctx(key_rpm=2, key_tpm=3000, project="other"))
    await a.admit(ctx(key_rpm=2, key_tpm=3000, project="other"))
    with pytest.raises(RateLimited, match="requests per minute of key"):
        await a.admit(ctx(key_rpm=2, key_tpm=3000, project="other"))
    await a.aclose()


async def test_refunds_keep_the_whole_allowance_of_a_leased_limit(
    engine: Engine, limiter: RateLimiter
) -> None:
    """RPM 64 is large enough to lease (2 requests at a time): refunds go back into it."""
    make_project(engine, "acme")
    budget(engine, "0.001")
    a = admitter(engine, limiter=limiter)
    for _ in range(70):
        with pytest.raises(BudgetExceeded):
            await a.admit(ctx(key_rpm=64))
    for _ in range(64):
        await a.admit(ctx(key_rpm=64, project="other"))
    with pytest.raises(RateLimited, match="requests per minute of key"):
        await a.admit(ctx(key_rpm=64, project="other"))
    await a.aclose()


async def test_a_rate_limit_refusal_holds_nothing_on_the_budget(
    engine: Engine, limiter: RateLimiter
) -> None:
    make_project(engine, "acme")
    budget(engine, "0.0031")  # affords one worst case
    a = admitter(engine, limiter=limiter)
    with pytest.raises(RateLimited):
        await a.admit(ctx(key_tpm=10))  # 1500 tokens can never fit 10 TPM
    admitted = await a.admit(ctx())  # the budget's headroom is untouched
    assert admitted.reservation is not None
    await a.aclose()


def test_fail_closed_refusal_is_recorded_as_blocked() -> None:
    ex = Exchange("r1", datetime.now(UTC), time.perf_counter(), "/v1/chat/completions")
    ex.refuse(BudgetStoreUnavailable("Spend limits cannot be checked."))
    assert (ex.outcome, ex.http_status, ex.error_type) == (
        Outcome.BLOCKED, 503, "budget_store_unavailable",
    )  # fmt: skip
    err = BudgetStoreUnavailable("down")
    assert err.response_headers()["x-should-retry"] == "true"
    assert err.body()["error"]["type"] == "server_error"


def test_a_store_outage_is_a_policy_refusal_not_a_spent_budget() -> None:
    # a 503 must not be caught as a spent budget (429) by code that handles BudgetExceeded
    assert not issubclass(BudgetStoreUnavailable, BudgetExceeded)
    for refusal in (BudgetStoreUnavailable, BudgetExceeded, RateLimited, ServerBusy):
        assert issubclass(refusal, PolicyRefusal)
        ex = Exchange("r", datetime.now(UTC), time.perf_counter(), "/v1/chat/completions")
        ex.refuse(refusal("no"))
        assert ex.outcome is Outcome.BLOCKED
