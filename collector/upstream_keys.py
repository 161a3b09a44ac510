"""The server-held upstream keys as configured: parsed from ``SPENDSCOPE_UPSTREAM_KEYS``.

Each upstream has one key (``{"name": "sk-…"}``), a list (``["sk-a", "sk-b"]``, used in turn)
or weighted keys (``[{"key": "sk-a", "weight": 3}, …]``); upstreams without their own use
``SPENDSCOPE_UPSTREAM_API_KEY``. Pure values, shared by the gateway (its keyrings) and the
CLI (``spendscope upstream-keys status``). A key is only ever shown by its last four
characters, and never in an error message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from collector.errors import SettingsError

log = logging.getLogger(__name__)

MAX_WEIGHT = 100
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
