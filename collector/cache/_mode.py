"""Whether one request uses the cache: the project's or key's opt-in, and its header.

``x-spendscope-cache: on`` uses the cache for this request even without an opt-in;
``off`` neither reads nor writes it; ``refresh`` skips the lookup and stores the fresh
answer. Any other value is refused (400) naming the header.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from collector.errors import InvalidRequest

HEADER = "x-spendscope-cache"


class CacheMode(StrEnum):
    ON = "on"
    OFF = "off"
    REFRESH = "refresh"


def parse_mode(value: str | None) -> CacheMode | None:
    """The header's mode (None when absent); InvalidRequest for anything else."""
    if value is None:
        return None
    try:
        return CacheMode(value.strip().lower())
    except ValueError:
        raise InvalidRequest(
            f"{HEADER} must be one of on, off, refresh (got {value[:40]!r})", param=HEADER
        ) from None


def opted_in(project: str, key_prefix: str, projects: Sequence[str], keys: Sequence[str]) -> bool:
    """The project (or ``*``) or the key's prefix is listed in the settings."""
    return "*" in projects or project in projects or key_prefix in keys


SEMANTIC_HIT_NOTE = "semantic_hit"  # request metadata ``_spendscope_cache`` of a semantic hit
