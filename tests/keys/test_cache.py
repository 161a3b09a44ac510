"""The gateway's key cache: TTL, negative caching, bounds, coalescing, stale-if-error."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from collector.db import ApiKey, session_scope
from collector.errors import StorageError
from collector.keys import KeyCache, create_key, hash_key, revoke_key

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _key(engine: Engine, project: str = "acme") -> str:
    with session_scope(engine) as session:
        return create_key(
            session, project=project, user=None, tags={}, rpm=None, tpm=None, name=None, now=NOW
        ).raw_key


def _revoke(engine: Engine, raw: str) -> None:
    with session_scope(engine) as session:
        revoke_key(session, raw, NOW)


async def test_revocation_takes_effect_after_the_ttl(engine: Engine) -> None:
    clock = Clock()
    cache = KeyCache(engine, ttl_s=30, clock=clock)
    raw = _key(engine)
    first = await cache.get(raw)
    assert first is not None and first.project == "acme"
    _revoke(engine, raw)
    clock.now += 29.9
    assert await cache.get(raw) is first  # served from memory: the database was not asked
    clock.now += 0.2
    assert await cache.get(raw) is None  # expired: re-read, now revoked
    assert (cache.hits, cache.misses) == (1, 2)


async def test_unknown_keys_are_cached_briefly(engine: Engine) -> None:
    clock = Clock()
    cache = KeyCache(engine, negative_ttl_s=5, clock=clock)
    existing = await cache.get(_key(engine))
    assert existing is not None
    raw = "sk-ss-" + secrets.token_urlsafe(30)
    assert await cache.get(raw) is None
    # The key appears in the database (as if created with exactly this value).
    with session_scope(engine) as session:
        session.add(ApiKey(project_id=existing.project_id, key_hash=hash_key(raw),
                           prefix=raw[:14], tags={}, created_at=NOW))  # fmt: skip
    clock.now += 4.9
    assert await cache.get(raw) is None  # still the cached "unknown"
    clock.now += 0.2
    found = await cache.get(raw)
    assert found is not None and found.key_prefix == raw[:14]


async def test_malformed_keys_never_reach_the_cache(engine: Engine) -> None:
    cache = KeyCache(engine)
    for raw in ("", "Bearer x", "sk-ss-short", "sk-ss-" + "?" * 40):
        assert await cache.get(raw) is None
    assert len(cache) == 0 and cache.misses == 0


async def test_size_is_bounded_and_least_recently_used_goes_first(engine: Engine) -> None:
    clock = Clock()
    cache = KeyCache(engine, max_entries=2, clock=clock)
    a, b, c = _key(engine), _key(engine), _key(engine)
    assert await cache.get(a) and await cache.get(b)
    assert await cache.get(a)  # a is now more recent than b
    assert await cache.get(c)  # evicts b
    assert len(cache) == 2
    _revoke(engine, a)
    _revoke(engine, b)
    assert await cache.get(a) is not None  # still cached
    assert await cache.get(b) is None  # was evicted, so re-read: revoked


async def test_negative_entries_cannot_evict_known_keys(engine: Engine) -> None:
    cache = KeyCache(engine, max_entries=10, max_negative=3, clock=Clock())
    raw = _key(engine)
    principal = await cache.get(raw)
    for _ in range(10):
        assert await cache.get("sk-ss-" + secrets.token_urlsafe(30)) is None
    assert len(cache) == 4
    _revoke(engine, raw)
    assert await cache.get(raw) is principal


async def test_concurrent_misses_share_one_lookup(engine: Engine) -> None:
    cache = KeyCache(engine, clock=Clock())
    raw = _key(engine)
    results = await asyncio.gather(*(cache.get(raw) for _ in range(50)))
    assert results[0] is not None
    assert all(r is results[0] for r in results)  # one resolve → one principal object


async def test_invalidate_makes_revocation_immediate(engine: Engine) -> None:
    cache = KeyCache(engine, clock=Clock())
    raw, other = _key(engine), _key(engine)
    assert await cache.get(raw) and await cache.get(other)
    _revoke(engine, raw)
    cache.invalidate(raw)
    assert await cache.get(raw) is None
    assert len(cache) == 2
    cache.invalidate()
    assert len(cache) == 0


async def test_stale_entry_is_served_while_the_database_is_down(
    engine: Engine, migrated_url: str
) -> None:
    clock = Clock()
    cache = KeyCache(engine, ttl_s=30, stale_if_error_s=60, clock=clock)
    raw = _key(engine)
    principal = await cache.get(raw)
    cascade = "" if migrated_url.startswith("sqlite") else " CASCADE"
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE api_keys{cascade}"))
    clock.now += 31
    assert await cache.get(raw) is principal  # lookup failed; the stale entry keeps traffic up
    clock.now += 60
    with pytest.raises(StorageError):
        await cache.get(raw)
    with pytest.raises(StorageError):
        await cache.get("sk-ss-" + secrets.token_urlsafe(30))


def test_settings_are_validated(engine: Engine) -> None:
    with pytest.raises(ValueError):
        KeyCache(engine, ttl_s=0)
    with pytest.raises(ValueError):
        KeyCache(engine, max_entries=0)
