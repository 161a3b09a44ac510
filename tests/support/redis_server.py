"""The real Redis the rate-limit tests use, and one rule for when it is missing.

``SPENDSCOPE_TEST_REDIS_URL`` names it (CI sets it); unset, the local default is tried. A Redis
that was named explicitly but does not answer fails the test — as an unreachable PostgreSQL
does under ``SPENDSCOPE_REQUIRE_POSTGRES=1`` — so CI never passes by skipping; an unnamed one
that is absent skips.
"""

from __future__ import annotations

import os

import pytest
import redis

REDIS_URL = os.environ.get("SPENDSCOPE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
_NAMED = "SPENDSCOPE_TEST_REDIS_URL" in os.environ


def redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def require_redis() -> None:
    """Return if Redis answers; otherwise fail (named in the environment) or skip."""
    if redis_up():
        return
    message = f"Redis unreachable at {REDIS_URL}"
    if _NAMED:
        pytest.fail(f"{message} (SPENDSCOPE_TEST_REDIS_URL is set)")
    pytest.skip(message)
