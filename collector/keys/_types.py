"""The values the keys domain hands out: a created key, a resolved principal, a listing row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key: ``raw_key`` exists only here, once; the database keeps its hash."""

    raw_key: str
    prefix: str
    id: int


@dataclass(frozen=True, slots=True)
class KeyPrincipal:
    """Who a request is from, as resolved from its virtual key (shared, read-only, cached)."""

    api_key_id: int
    project_id: int
    project: str
    key_prefix: str
    end_user: str | None
    tags: Mapping[str, str]
    rpm: int | None
    tpm: int | None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One key as ``keys list`` shows it: never the hash, never the key."""

    id: int
    prefix: str
    project: str
    name: str | None
    end_user: str | None
    tags: Mapping[str, str]
    rpm: int | None
    tpm: int | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None
