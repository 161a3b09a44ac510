"""Several server-held keys per upstream: which one a try uses, and which are out of rotation.

``SPENDSCOPE_UPSTREAM_KEYS`` gives each upstream one key (``{"name": "sk-…"}``), a list
(``["sk-a", "sk-b"]``, used in turn) or weighted keys (``[{"key": "sk-a", "weight": 3}, …]``).
A :class:`Keyring` hands out keys by smooth weighted round-robin, precomputed as a wheel, so
:meth:`Keyring.choose` is one counter step and one tuple index: no lock, nothing allocated
(the counter's ``next`` is atomic). A key the upstream refuses (401/403) is taken out of the
wheel; while another key is active the refused try is repeated with it. When every key is
refused the whole set stays in use, so the client gets the upstream's refusal as it would
with one key. A reload (SIGHUP, the admin API) replaces the keys and forgets refusals.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from math import gcd
from typing import Any

from collector.errors import SettingsError

log = logging.getLogger(__name__)

MAX_WEIGHT = 100
REVOKING_STATUS = frozenset({401, 403})
_VARIABLE = "SPENDSCOPE_UPSTREAM_KEYS"


@dataclass(frozen=True, slots=True)
class UpstreamKey:
    """One upstream key; only its last four characters are ever shown or stored."""

    secret: str = field(repr=False)
    weight: int = 1
    authorization: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "authorization", f"Bearer {self.secret}")

    @property
    def last4(self) -> str:
        return self.secret[-4:]

    @property
    def label(self) -> str:
        return f"…{self.last4}"


def parse_keys(upstream: str, raw: Any) -> tuple[UpstreamKey, ...]:
    """One upstream's keys from its ``SPENDSCOPE_UPSTREAM_KEYS`` value (a key never appears in
    an error message)."""
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise _invalid(upstream, "expected a key, a list of keys or of {key, weight}")
    keys = [_one_key(upstream, i, item) for i, item in enumerate(items)]
    if len({k.secret for k in keys}) != len(keys):
        raise _invalid(upstream, "the same key is listed twice")
    return tuple(keys)


def _one_key(upstream: str, index: int, item: Any) -> UpstreamKey:
    weight: Any = 1
    if isinstance(item, dict):
        unknown = sorted(set(item) - {"key", "weight"})
        if unknown:
            raise _invalid(upstream, f"key #{index + 1}: unknown field {unknown[0]!r}")
        item, weight = item.get("key"), item.get("weight", 1)
    if not isinstance(item, str) or not item.strip():
        raise _invalid(upstream, f"key #{index + 1} is not a non-empty string")
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= MAX_WEIGHT:
        raise _invalid(upstream, f"key #{index + 1}: weight must be an integer 1..{MAX_WEIGHT}")
    return UpstreamKey(item.strip(), weight)


def _invalid(upstream: str, why: str) -> SettingsError:
    return SettingsError(f"invalid setting {_VARIABLE}: upstream {upstream!r}: {why}")


def keys_by_upstream(
    names: Sequence[str], configured: Mapping[str, Any], default_key: str | None
) -> dict[str, tuple[UpstreamKey, ...]]:
    """Every upstream's keys: its own, else the default key (``SPENDSCOPE_UPSTREAM_API_KEY``).

    Keys of an upstream that is not configured are ignored (as they always were), with a warning.
    """
    for name in sorted(set(configured) - set(names)):
        log.warning("%s names upstream %r, which is not configured: ignored", _VARIABLE, name)
    fallback = parse_keys("default", default_key) if default_key else ()
    return {name: parse_keys(name, raw) if (raw := configured.get(name)) else fallback
            for name in names}  # fmt: skip


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

    __slots__ = ("_keys", "_revoked", "_turn", "_wheel")

    def __init__(self, keys: Sequence[UpstreamKey] = ()) -> None:
        self._keys: tuple[UpstreamKey, ...] = ()
        self._revoked: frozenset[str] = frozenset()
        self._wheel: tuple[UpstreamKey, ...] = ()
        self._turn = itertools.count()
        self.replace(keys)

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

    def replace(self, keys: Sequence[UpstreamKey]) -> None:
        """New keys (a reload): every one of them active."""
        self._keys = tuple(keys)
        self._revoked = frozenset()
        self._rebuild()

    @property
    def keys(self) -> tuple[UpstreamKey, ...]:
        return self._keys

    def is_revoked(self, key: UpstreamKey) -> bool:
        return key.secret in self._revoked

    def _rebuild(self) -> None:
        active = [k for k in self._keys if k.secret not in self._revoked]
        self._wheel = wheel(active or self._keys)  # all refused: keep trying them all
