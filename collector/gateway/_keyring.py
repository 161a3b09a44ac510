"""Several server-held keys per upstream: which one a try uses, and which are out of rotation.

The keys come from ``SPENDSCOPE_UPSTREAM_KEYS`` (parsed by ``collector.upstream_keys``).
A :class:`Keyring` hands out keys by smooth weighted round-robin, precomputed as a wheel, so
:meth:`Keyring.choose` is one counter step and one tuple index: no lock, nothing allocated
(the counter's ``next`` is atomic). A key the upstream refuses (401/403) is taken out of the
wheel; while another key is active the refused try is repeated with it. When every key is
refused the whole set stays in use, so the client gets the upstream's refusal as it would
with one key. A reload (SIGHUP, the admin API) replaces the keys and forgets refusals.
Refusals met by other processes are learnt from the record they all write (``learn``, polled
by the runtime).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from math import gcd

from collector.upstream_keys import UpstreamKey, keys_by_upstream, parse_keys

__all__ = ["REVOKING_STATUS", "Keyring", "UpstreamKey", "keys_by_upstream", "parse_keys", "wheel"]

log = logging.getLogger(__name__)

REVOKING_STATUS = frozenset({401, 403})


def wheel(keys: Sequence[UpstreamKey]) -> tuple[UpstreamKey, ...]:
    """One turn of smooth weighted round-robin (nginx's): weights 3:1 give a a b a, not a a a b."""
    if not keys:
        return ()
    divisor = 0
    for key in keys:
        divisor = gcd(divisor, key.weight)
    weights = [key.weight // divisor for key in keys]
    total = sum(weights)
    current = [0] * len(keys)
    out = []
    for _ in range(total):
        current = [c + w for c, w in zip(current, weights, strict=True)]
        best = max(range(len(keys)), key=current.__getitem__)
        current[best] -= total
        out.append(keys[best])
    return tuple(out)


class Keyring:
    """The keys of one upstream and which of them are out of rotation (for this process)."""

    __slots__ = ("_keys", "_revoked", "_turn", "_wheel", "replaced_at")

    def __init__(self, keys: Sequence[UpstreamKey] = ()) -> None:
        self._keys: tuple[UpstreamKey, ...] = ()
        self._revoked: frozenset[str] = frozenset()
        self._wheel: tuple[UpstreamKey, ...] = ()
        self._turn = itertools.count()
        self.replace(keys)
        self.replaced_at: datetime | None = None  # a process starting trusts the whole record

    def choose(self) -> UpstreamKey | None:
        """The next key in turn (None when the upstream has no key)."""
        ring = self._wheel
        return ring[next(self._turn) % len(ring)] if ring else None

    def revoke(self, key: UpstreamKey) -> bool:
        """Take ``key`` out of rotation; True when another key is still active to retry with."""
        if key not in self._keys:
            return False  # replaced by a reload meanwhile
        if key.secret not in self._revoked:
            self._revoked = self._revoked | {key.secret}
            log.error("gateway: upstream key %s was refused and is out of rotation", key.label)
            self._rebuild()
        return any(k.secret not in self._revoked for k in self._keys)

    def learn(self, last4: str, refused_at: datetime) -> bool:
        """Another process's try found the key ending ``last4`` refused: take it out too
        (unless the refusal predates a reload, or two keys end alike). True if taken."""
        found = [k for k in self._keys if k.last4 == last4]
        if len(found) != 1 or found[0].secret in self._revoked:
            return False
        if self.replaced_at is not None and refused_at < self.replaced_at:
            return False
        self.revoke(found[0])
        return True

    def replace(self, keys: Sequence[UpstreamKey]) -> None:
        """New keys (a reload): every one of them active."""
        self._keys = tuple(keys)
        self._revoked = frozenset()
        self.replaced_at = datetime.now(UTC)
        self._rebuild()

    @property
    def keys(self) -> tuple[UpstreamKey, ...]:
        return self._keys

    def is_revoked(self, key: UpstreamKey) -> bool:
        return key.secret in self._revoked

    def _rebuild(self) -> None:
        active = [k for k in self._keys if k.secret not in self._revoked]
        self._wheel = wheel(active or self._keys)  # all refused: keep trying them all
