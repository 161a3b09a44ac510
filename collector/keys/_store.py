"""Virtual keys in the database: create, resolve, revoke, list.

A key is ``sk-ss-`` plus 40 URL-safe random characters. Only its SHA-256 hex digest and a
14-character display prefix are stored, so a leaked database (or backup) leaks no usable key.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import Engine, Select, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from collector.db.models import ApiKey, Project
from collector.errors import InvalidRequest, NotFound, StorageError
from collector.keys._types import CreatedKey, KeyInfo, KeyPrincipal
from collector.keys._validate import (
    MAX_NAME,
    MAX_USER,
    check_limit,
    check_tags,
    check_text,
)

KEY_PREFIX = "sk-ss-"
_RANDOM_BYTES = 30  # 40 URL-safe characters
KEY_LENGTH = len(KEY_PREFIX) + 40
DISPLAY_PREFIX_LENGTH = 14
_URLSAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def hash_key(raw_key: str) -> str:
    """The stored form of a key: SHA-256 hex (keys are random, so no salt or KDF is needed)."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def looks_like_key(raw_key: str) -> bool:
    """Cheap shape check, so garbage never reaches the database (or fills the cache)."""
    return (
        len(raw_key) == KEY_LENGTH
        and raw_key.startswith(KEY_PREFIX)
        and _URLSAFE.issuperset(raw_key[len(KEY_PREFIX) :])
    )


def _project_id(session: Session, name: str, now: datetime) -> int:
    found = session.scalar(select(Project.id).where(Project.name == name))
    if found is not None:
        return found
    project = Project(name=name, created_at=now)
    session.add(project)
    session.flush()
    return project.id


def create_key(
    session: Session,
    *,
    project: str,
    user: str | None,
    tags: Mapping[str, str],
    rpm: int | None,
    tpm: int | None,
    name: str | None,
    now: datetime,
) -> CreatedKey:
    """Create a key in ``project`` (created if missing); the raw key is returned only here."""
    project = check_text(project, "project", 200)
    user = None if user is None else check_text(user, "user", MAX_USER)
    name = None if name is None else check_text(name, "name", MAX_NAME)
    clean_tags = check_tags(tags, "tags")
    raw = KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)
    key = ApiKey(
        project_id=_project_id(session, project, now),
        key_hash=hash_key(raw),
        prefix=raw[:DISPLAY_PREFIX_LENGTH],
        name=name,
        end_user=user,
        tags=clean_tags,
        rpm_limit=check_limit(rpm, "rpm"),
        tpm_limit=check_limit(tpm, "tpm"),
        created_at=now,
    )
    session.add(key)
    session.flush()
    return CreatedKey(raw_key=raw, prefix=key.prefix, id=key.id)


_PRINCIPAL_COLUMNS = (
    ApiKey.id,
    ApiKey.project_id,
    Project.name,
    ApiKey.prefix,
    ApiKey.end_user,
    ApiKey.tags,
    ApiKey.rpm_limit,
    ApiKey.tpm_limit,
)


def _principal_query(key_hash: str) -> Select[Any]:
    return (
        select(*_PRINCIPAL_COLUMNS)
        .join(Project, Project.id == ApiKey.project_id)
        .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    )


def resolve_key(engine: Engine, raw_key: str) -> KeyPrincipal | None:
    """The principal of an active key; None when unknown, malformed or revoked.

    Raises StorageError when the database cannot answer (the caller decides what then).
    """
    if not looks_like_key(raw_key):
        return None
    try:
        with engine.connect() as conn:
            row = conn.execute(_principal_query(hash_key(raw_key))).one_or_none()
    except SQLAlchemyError as exc:
        raise StorageError(f"key lookup failed: {exc.__class__.__name__}") from exc
    if row is None:
        return None
    key_id, project_id, project, prefix, end_user, tags, rpm, tpm = row
    return KeyPrincipal(
        api_key_id=key_id,
        project_id=project_id,
        project=project,
        key_prefix=prefix,
        end_user=end_user,
        tags=MappingProxyType(dict(tags or {})),
        rpm=rpm,
        tpm=tpm,
    )


def _info(key: ApiKey, project: str) -> KeyInfo:
    return KeyInfo(
        id=key.id,
        prefix=key.prefix,
        project=project,
        name=key.name,
        end_user=key.end_user,
        tags=MappingProxyType(dict(key.tags or {})),
        rpm=key.rpm_limit,
        tpm=key.tpm_limit,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


def _find(session: Session, prefix_or_id: str) -> tuple[ApiKey, str]:
    ref = prefix_or_id.strip()
    query = select(ApiKey, Project.name).join(Project, Project.id == ApiKey.project_id)
    if ref.isdigit():
        query = query.where(ApiKey.id == int(ref))
    elif looks_like_key(ref):
        query = query.where(ApiKey.key_hash == hash_key(ref))
    else:
        query = query.where(ApiKey.prefix == ref)
    rows = session.execute(query.limit(2)).all()
    if not rows:
        raise NotFound(f"no key with id or prefix {ref[:40]!r}", param="key")
    if len(rows) > 1:
        raise InvalidRequest(f"prefix {ref!r} matches several keys; use the id", param="key")
    key, project = rows[0]
    return key, project


def revoke_key(session: Session, prefix_or_id: str, now: datetime) -> KeyInfo:
    """Revoke by id, display prefix or the raw key itself; revoking twice keeps the first time.

    Gateways stop accepting the key once their cache entry expires (see ``KeyCache``).
    """
    key, project = _find(session, prefix_or_id)
    if key.revoked_at is None:
        key.revoked_at = now
        session.flush()
    return _info(key, project)


def list_keys(session: Session, *, project: str | None = None) -> list[KeyInfo]:
    """Every key (revoked ones too), oldest first; optionally only those of one project."""
    query = select(ApiKey, Project.name).join(Project, Project.id == ApiKey.project_id)
    if project is not None:
        query = query.where(Project.name == project)
    return [_info(key, name) for key, name in session.execute(query.order_by(ApiKey.id))]
