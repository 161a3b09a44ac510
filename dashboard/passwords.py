"""Dashboard logins: salted scrypt password hashes and the ``name:role:hash`` user list (pure).

A hash reads ``scrypt$<n>$<r>$<p>$<salt>$<digest>`` (base64 salt and digest), so the cost can
be raised later without breaking stored hashes. Generate one with
``spendscope dashboard hash-password``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import cache
from typing import Literal

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "viewer")
_SCHEME = "scrypt"
_N, _R, _P = 2**14, 8, 1
_DKLEN = 32


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash of ``password`` in the self-describing format above."""
    if not password:
        raise ValueError("the password must not be empty")
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN)
    return f"{_SCHEME}${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def _parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        raise ValueError("not a spendscope scrypt hash (scrypt$n$r$p$salt$digest)")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, digest = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5])
    except ValueError as exc:
        raise ValueError(f"malformed password hash: {exc}") from None
    return n, r, p, salt, digest


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded`` (constant-time comparison)."""
    n, r, p, salt, digest = _parse_hash(encoded)
    candidate = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=256 * n * r * p
    )
    return hmac.compare_digest(candidate, digest)


@dataclass(frozen=True, slots=True)
class DashboardUser:
    """One configured login."""

    name: str
    role: Role
    password_hash: str


def _parse_user(entry: str) -> DashboardUser:
    name, _, rest = entry.partition(":")
    role, _, password_hash = rest.partition(":")
    if not name or not password_hash:
        raise ValueError(f"user entry {name or entry[:20]!r} is not 'name:role:hash'")
    if role not in ROLES:
        raise ValueError(f"user {name!r} has role {role!r}; expected admin or viewer")
    _parse_hash(password_hash)
    return DashboardUser(name=name, role=role, password_hash=password_hash)


def parse_users(spec: str) -> dict[str, DashboardUser]:
    """Users from comma-separated ``name:role:hash`` entries (ValueError names a bad one)."""
    users: dict[str, DashboardUser] = {}
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        user = _parse_user(entry)
        if user.name in users:
            raise ValueError(f"user {user.name!r} is listed twice")
        users[user.name] = user
    return users


@cache
def dummy_hash() -> str:
    """A real hash to check when the name is unknown: timing then reveals no user names."""
    return hash_password("spendscope-dummy", salt=b"\x00" * 16)
