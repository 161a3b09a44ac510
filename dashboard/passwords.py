"""Dashboard logins: salted password hashes and the ``name:role:hash`` user list (pure).

Hashes are made and checked by ``werkzeug.security`` (scrypt, ``scrypt:<n>:<r>:<p>$<salt>$<hex>``;
its pbkdf2 hashes are accepted too). Hashes that earlier versions wrote in their own format,
``scrypt$<n>$<r>$<p>$<salt>$<digest>`` (base64 salt and digest), still verify: they live in
``SPENDSCOPE_DASHBOARD_USERS``, which spendscope cannot rewrite, so replace them at leisure with
``spendscope dashboard hash-password``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from functools import cache
from typing import Literal

from werkzeug.security import check_password_hash, generate_password_hash

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "viewer")
_METHODS = ("scrypt", "pbkdf2")  # werkzeug's, as the first field of its hashes names them
_LEGACY = "scrypt"  # the first field of the earlier format


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` (werkzeug's format)."""
    if not password:
        raise ValueError("the password must not be empty")
    return generate_password_hash(password, method="scrypt")


def _parse_legacy(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != _LEGACY:
        raise ValueError("not a password hash (from `spendscope dashboard hash-password`)")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, digest = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5])
    except ValueError as exc:
        raise ValueError(f"malformed password hash: {exc}") from None
    return n, r, p, salt, digest


def _check_format(encoded: str) -> None:
    """ValueError unless ``encoded`` is a werkzeug hash of a known method or a 0.x hash."""
    method, _, rest = encoded.partition("$")
    if method.split(":")[0] in _METHODS and ":" in method and rest.count("$") == 1:
        return
    _parse_legacy(encoded)


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded`` (constant-time comparison, either format)."""
    if not encoded.startswith(_LEGACY + "$"):
        return check_password_hash(encoded, password)
    n, r, p, salt, digest = _parse_legacy(encoded)
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
    _check_format(password_hash)
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
    return hash_password("spendscope-dummy")
