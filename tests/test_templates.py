"""The migrated PostgreSQL schemas tests get: a finished test's schema is emptied and handed
to the next only while it still has the shape the migration gave it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.conftest import PG_URL, _pg_schema, _pg_schema_url
from tests.support import templates


@pytest.fixture
def admin() -> Iterator[Engine]:
    with _pg_schema():  # skips (or fails when required) without a server
        pass
    assert PG_URL is not None
    engine = create_engine(PG_URL)
    yield engine
    engine.dispose()


_ROW = "(name, created_at) VALUES ('acme', now())"


def _fresh(admin: Engine) -> tuple[str, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _pg_schema_url(schema)
    templates.migrate(url)
    return schema, url


def _tables(admin: Engine, schema: str) -> set[str]:
    sql = "SELECT relname FROM pg_class WHERE relnamespace = CAST(:s AS regnamespace)"
    with admin.connect() as conn:
        return set(conn.execute(text(sql), {"s": f'"{schema}"'}).scalars())


def test_a_clean_schema_is_handed_on_empty(admin: Engine) -> None:
    first, url = _fresh(admin)
    with admin.begin() as conn:
        conn.execute(
            text(f"INSERT INTO \"{first}\".projects (name, created_at) VALUES ('acme', now())")
        )
    templates.release(url, first)
    second, url = _fresh(admin)
    try:
        with admin.connect() as conn:
            assert conn.scalar(text(f'SELECT count(*) FROM "{second}".projects')) == 0
            new_id = conn.execute(
                text(f'INSERT INTO "{second}".projects {_ROW} RETURNING id')
            ).scalar_one()
            conn.rollback()
            assert conn.scalar(text(f'SELECT count(*) FROM "{second}".alembic_version')) == 1
        assert new_id == 1  # sequences restarted
    finally:
        templates.release(url, second)


@pytest.mark.parametrize(
    "change",
    [
        'CREATE TABLE "{s}".extra (x int)',
        'CREATE INDEX ix_extra ON "{s}".projects (name, id)',
        'ALTER TABLE "{s}".projects ADD COLUMN extra int',
        'ALTER TABLE "{s}".projects DROP COLUMN slo_target',
        "UPDATE \"{s}\".alembic_version SET version_num = '0001'",
    ],
)
def test_a_schema_a_test_changed_is_dropped(admin: Engine, change: str) -> None:
    first, url = _fresh(admin)
    with admin.begin() as conn:
        conn.execute(text(change.format(s=first)))
    templates.release(url, first)
    with admin.connect() as conn:
        gone = conn.scalar(text("SELECT to_regnamespace(:s)"), {"s": f'"{first}"'})
    assert gone is None
    assert templates._FREE == [] or all(  # what is kept is a clean one, not this
        "extra" not in _tables(admin, free) for free in templates._FREE
    )
    second, url = _fresh(admin)
    try:
        assert "extra" not in _tables(admin, second)
        assert "ix_extra" not in _tables(admin, second)
    finally:
        templates.release(url, second)
