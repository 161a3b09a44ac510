"""Virtual keys in the database: only hashes stored, resolve, revoke, list, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select, text

from collector.db import ApiKey, Project, session_scope
from collector.errors import InvalidRequest, NotFound
from collector.keys import (
    CreatedKey,
    create_key,
    hash_key,
    list_keys,
    looks_like_key,
    resolve_key,
    revoke_key,
)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _create(engine: Engine, **kw: Any) -> CreatedKey:
    args: dict[str, Any] = {"project": "acme", "user": None, "tags": {}, "rpm": None,
                            "tpm": None, "name": None}  # fmt: skip
    args.update(kw)
    with session_scope(engine) as session:
        return create_key(session, now=NOW, **args)


def _every_stored_value(engine: Engine) -> str:
    """All rows of all tables, as one string: what a leaked database dump would show."""
    parts = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            parts += [repr(tuple(row)) for row in conn.execute(text(f'SELECT * FROM "{table}"'))]
    return "\n".join(parts)


def test_only_the_hash_is_stored(engine: Engine, migrated_url: str) -> None:
    created = _create(engine, tags={"team": "search"}, rpm=60, tpm=10_000, name="ci")
    assert looks_like_key(created.raw_key)
    assert len(created.raw_key) == len("sk-ss-") + 40
    assert created.prefix == created.raw_key[:14]
    dump = _every_stored_value(engine)
    assert hash_key(created.raw_key) in dump  # we are looking at the right rows...
    assert created.raw_key not in dump  # ...and the key itself is in none of them
    assert created.raw_key[14:] not in dump
    if migrated_url.startswith("sqlite"):
        engine.dispose()
        db_file = Path(migrated_url.removeprefix("sqlite:///"))
        raw_bytes = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
        assert hash_key(created.raw_key).encode() in raw_bytes
        assert created.raw_key.encode() not in raw_bytes


def test_resolve_returns_the_keys_principal(engine: Engine) -> None:
    created = _create(engine, project="acme", user="alice", tags={"team": "search"}, rpm=60)
    principal = resolve_key(engine, created.raw_key)
    assert principal is not None
    assert principal.api_key_id == created.id
    assert principal.project == "acme"
    assert principal.key_prefix == created.prefix
    assert principal.end_user == "alice"
    assert dict(principal.tags) == {"team": "search"}
    assert (principal.rpm, principal.tpm) == (60, None)
    with pytest.raises(TypeError):
        principal.tags["team"] = "ads"  # type: ignore[index]


def test_project_is_created_once(engine: Engine) -> None:
    first = resolve_key(engine, _create(engine, project="acme").raw_key)
    second = resolve_key(engine, _create(engine, project="acme").raw_key)
    other = resolve_key(engine, _create(engine, project="other").raw_key)
    assert first and second and other
    assert first.project_id == second.project_id != other.project_id
    with session_scope(engine) as session:
        assert sorted(session.scalars(select(Project.name))) == ["acme", "other"]


def test_keys_are_distinct(engine: Engine) -> None:
    keys = {_create(engine).raw_key for _ in range(20)}
    assert len(keys) == 20


@pytest.mark.parametrize(
    "raw", ["", "sk-ss-", "sk-proj-" + "a" * 40, "sk-ss-" + "a" * 39, "sk-ss-" + "a" * 39 + "!"]
)
def test_malformed_keys_resolve_to_none(engine: Engine, raw: str) -> None:
    assert resolve_key(engine, raw) is None


def test_unknown_and_revoked_keys_resolve_to_none(engine: Engine) -> None:
    assert resolve_key(engine, "sk-ss-" + "A" * 40) is None
    created = _create(engine)
    with session_scope(engine) as session:
        info = revoke_key(session, str(created.id), NOW)
    assert info.revoked and info.revoked_at == NOW
    assert resolve_key(engine, created.raw_key) is None


@pytest.mark.parametrize("how", ["id", "prefix", "raw"])
def test_revoke_by_id_prefix_or_key(engine: Engine, how: str) -> None:
    created = _create(engine)
    keep = _create(engine)
    ref = {"id": str(created.id), "prefix": created.prefix, "raw": created.raw_key}[how]
    with session_scope(engine) as session:
        assert revoke_key(session, ref, NOW).id == created.id
    assert resolve_key(engine, created.raw_key) is None
    assert resolve_key(engine, keep.raw_key) is not None


def test_revoking_twice_keeps_the_first_time(engine: Engine) -> None:
    created = _create(engine)
    with session_scope(engine) as session:
        revoke_key(session, created.prefix, NOW)
    with session_scope(engine) as session:
        again = revoke_key(session, created.prefix, NOW + timedelta(days=1))
    assert again.revoked_at == NOW


def test_revoke_unknown_or_ambiguous(engine: Engine) -> None:
    created = _create(engine)
    with session_scope(engine) as session:
        key = session.get(ApiKey, created.id)
        assert key is not None
        twin = ApiKey(project_id=key.project_id, key_hash="0" * 64, prefix=created.prefix,
                      tags={}, created_at=NOW)  # fmt: skip
        session.add(twin)
    with session_scope(engine) as session, pytest.raises(NotFound):
        revoke_key(session, "sk-ss-nothere", NOW)
    with session_scope(engine) as session, pytest.raises(InvalidRequest, match="several"):
        revoke_key(session, created.prefix, NOW)
    assert resolve_key(engine, created.raw_key) is not None


def test_list_keys_never_shows_the_hash(engine: Engine) -> None:
    a = _create(engine, project="acme", user="alice", tags={"env": "prod"}, rpm=5, name="a")
    b = _create(engine, project="other")
    with session_scope(engine) as session:
        revoke_key(session, b.prefix, NOW)
    with session_scope(engine) as session:
        everything = list_keys(session)
        acme = list_keys(session, project="acme")
    assert [k.id for k in everything] == [a.id, b.id]
    assert [k.id for k in acme] == [a.id]
    first = acme[0]
    assert (first.prefix, first.project, first.end_user, first.name) == (a.prefix, "acme",
                                                                         "alice", "a")  # fmt: skip
    assert (dict(first.tags), first.rpm, first.tpm, first.revoked) == ({"env": "prod"}, 5,
                                                                       None, False)  # fmt: skip
    assert everything[1].revoked
    assert not hasattr(first, "key_hash")
    assert hash_key(a.raw_key) not in repr(everything)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"project": "  "}, "project"),
        ({"project": "x" * 201}, "project"),
        ({"rpm": -1}, "rpm"),
        ({"tpm": 0}, "tpm"),
        ({"user": ""}, "user"),
        ({"tags": {"bad key": "v"}}, "tags"),
        ({"tags": {"k": ""}}, "tags"),
        ({"tags": {"k": "a,b"}}, "tags"),
        ({"tags": {f"k{i}": "v" for i in range(21)}}, "tags"),
    ],
)
def test_create_rejects_bad_input(engine: Engine, kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        _create(engine, **kwargs)
    assert info.value.param == param
    with session_scope(engine) as session:
        assert session.scalars(select(ApiKey)).all() == []
