"""The real Redis the rate-limit tests use, and one rule for when it is missing.

``SPENDSCOPE_TEST_REDIS_URL`` names it (CI sets it); unset, the local default is tried. A Redis
that was named explicitly but does not answer fails the test — as an unreachable PostgreSQL
does under ``SPENDSCOPE_REQUIRE_POSTGRES=1`` — so CI never passes by skipping; an unnamed one
that is absent skips.

Under pytest-xdist each worker gets a database of its own: worker ``gwN`` takes the N-th entry
of ``SPENDSCOPE_TEST_REDIS_DBS`` (a comma-separated list, for machines where other databases
are taken), or else the URL's database counted down by N (15, 14, 13, … in CI), wrapping
within 1..base. Every test also keys under a random prefix and deletes only that prefix, so
two workers landing on one database stay correct.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

_BASE_URL = os.environ.get("SPENDSCOPE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
_NAMED = "SPENDSCOPE_TEST_REDIS_URL" in os.environ


def worker_db(base_url: str, worker: str, dbs: str = "") -> str:
    """``base_url`` with the database of xdist worker ``worker`` ("" or "master": unchanged)."""
    if not worker.startswith("gw"):
        return base_url
    index = int(worker[2:])
    listed = [int(db) for db in dbs.split(",") if db.strip()]
    parts = urlsplit(base_url)
    base = int(parts.path.lstrip("/") or 0)
    if listed:
        db = listed[index % len(listed)]
    elif base <= 1:
        db = base
    else:
        db = base - index % base
    return urlunsplit(parts._replace(path=f"/{db}"))


REDIS_URL = worker_db(
    _BASE_URL,
    os.environ.get("PYTEST_XDIST_WORKER", ""),
    os.environ.get("SPENDSCOPE_TEST_REDIS_DBS", ""),
)


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
