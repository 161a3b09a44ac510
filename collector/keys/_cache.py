"""The gateway's in-memory key cache: the request path touches the database only on a miss.

Revocation takes effect within ``ttl_s`` (default 30 s): a revoked key keeps working on a
gateway that cached it until the entry expires (``invalidate`` makes it immediate locally).
Unknown keys are cached for ``negative_ttl_s`` (default 5 s), so a client retrying with a bad
key costs one query per window, and a key created moments after a failed try works soon after.
While the database is unreachable, an expired entry for a known key is served for up to
``stale_if_error_s`` more, so an outage does not lock out traffic that was flowing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from collector.errors import StorageError
from collector.keys._store import hash_key, looks_like_key, resolve_key
from collector.keys._types import KeyPrincipal

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Entry:
    principal: KeyPrincipal | None
    expires: float


class KeyCache:
    """A bounded LRU of key hash → principal (or None), with concurrent misses coalesced."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl_s: float = 30.0,
        negative_ttl_s: float = 5.0,
        max_entries: int = 10_000,
        max_negative: int = 1_000,
        stale_if_error_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s <= 0 or negative_ttl_s < 0 or max_entries < 1 or max_negative < 1:
            raise ValueError("ttl_s must be > 0, negative_ttl_s >= 0, sizes >= 1")
        self._engine = engine
        self.ttl_s = ttl_s
        self.negative_ttl_s = negative_ttl_s
        self._max = {True: max_entries, False: max_negative}
        self._stale_if_error_s = stale_if_error_s
        self._clock = clock
        # Positive and negative entries are bounded apart: a flood of bad keys cannot evict
        # the good ones.
        self._known: OrderedDict[str, _Entry] = OrderedDict()
        self._unknown: OrderedDict[str, _Entry] = OrderedDict()
        self._pending: dict[str, asyncio.Future[KeyPrincipal | None]] = {}
        self._revoked: set[int] = set()  # ids revoked by this process: never served again
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._known) + len(self._unknown)

    async def get(self, raw_key: str) -> KeyPrincipal | None:
        """The key's principal, from memory when fresh; None for unknown or revoked keys.

        Raises StorageError when the database cannot answer and nothing usable is cached.
        """
        if not looks_like_key(raw_key):
            return None
        digest = hash_key(raw_key)
        entry = self._known.get(digest) or self._unknown.get(digest)
        if entry is not None and entry.expires > self._clock():
            self.hits += 1
            if entry.principal is not None:
                if self._revoked and entry.principal.api_key_id in self._revoked:
                    return None
                self._known.move_to_end(digest)
            return entry.principal
        self.misses += 1
        pending = self._pending.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(self._load(raw_key, digest))
            self._pending[digest] = pending
        principal = await asyncio.shield(pending)
        if principal is not None and principal.api_key_id in self._revoked:
            return None  # revoked here while its lookup was in flight
        return principal

    def forget_key_id(self, api_key_id: int) -> None:
        """The key was revoked by this process: refuse it from now on, cached or in flight.

        Only a set insertion, so an admin route may call it from a worker thread.
        """
        self._revoked.add(api_key_id)

    def invalidate(self, raw_key: str | None = None) -> None:
        """Forget one key (or all), e.g. right after revoking it in this process."""
        if raw_key is None:
            self._known.clear()
            self._unknown.clear()
            return
        digest = hash_key(raw_key)
        self._known.pop(digest, None)
        self._unknown.pop(digest, None)

    async def _load(self, raw_key: str, digest: str) -> KeyPrincipal | None:
        try:
            principal = await asyncio.to_thread(resolve_key, self._engine, raw_key)
            self._store(digest, principal)
            return principal
        except StorageError:
            stale = self._known.get(digest)
            if stale is not None and self._clock() - stale.expires < self._stale_if_error_s:
                assert stale.principal is not None  # noqa: S101 - type narrowing: _known holds resolved principals only
                log.warning("key lookup failed; serving cached %s", stale.principal.key_prefix)
                return stale.principal
            raise
        finally:
            self._pending.pop(digest, None)

    def _store(self, digest: str, principal: KeyPrincipal | None) -> None:
        if principal is not None and principal.api_key_id in self._revoked:
            principal = None
        known = principal is not None
        ttl = self.ttl_s if known else self.negative_ttl_s
        target, other = (self._known, self._unknown) if known else (self._unknown, self._known)
        other.pop(digest, None)
        target[digest] = _Entry(principal, self._clock() + ttl)
        target.move_to_end(digest)
        while len(target) > self._max[known]:
            target.popitem(last=False)
