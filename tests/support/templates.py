"""Migrated databases for fixtures, at a fraction of Alembic's cost per test.

Running every migration takes ~0.7 s on SQLite and more on PostgreSQL, and most database tests
start from an empty database at the newest schema. So each test process migrates once per
backend for real and repeats the result: on SQLite it copies the migrated file (closed, so the
write-ahead log is already folded in); on PostgreSQL it replays, in a fresh schema, the exact
statements that first migration sent (DDL names no schema; the connection's search_path decides).
That replay is ~250 DDL statements, the largest share of the server's work in a run of the
suite; so a finished test's schema whose tables, indexes, constraints and triggers are still
those the migration made is emptied (rows deleted, sequences restarted) and kept for the next
test of this process, which gets it by a rename. Any other is dropped. Tests of the migrations
themselves keep calling ``upgrade_head``.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url

from collector.db import make_engine, upgrade_head


@dataclass
class _Recorded:
    """What the first real migration in this process left to repeat."""

    sqlite_file: Path | None = None
    pg_statements: list[tuple[str, Any, bool]] | None = None
    url: str | None = None  # the server it was recorded on
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ss-migrated-")))


_RECORDED = _Recorded()
atexit.register(shutil.rmtree, _RECORDED.folder, ignore_errors=True)


def migrate(url: str) -> None:
    """Bring the empty database at ``url`` to the newest schema, as ``upgrade_head`` does."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        _sqlite(url)
    elif backend == "postgresql":
        _postgresql(url)
    else:
        upgrade_head(url)


def _sqlite(url: str) -> None:
    target = Path(str(make_url(url).database))
    template = _RECORDED.sqlite_file
    if template is None or target.exists():
        upgrade_head(url)
        if template is None and _closed(target):
            _RECORDED.sqlite_file = _RECORDED.folder / "head.db"
            shutil.copyfile(target, _RECORDED.sqlite_file)
        return
    shutil.copyfile(template, target)


def _closed(path: Path) -> bool:
    """Whether the file holds the whole database: no write-ahead log beside it."""
    wal = path.with_name(path.name + "-wal")
    return path.exists() and (not wal.exists() or wal.stat().st_size == 0)


def _postgresql(url: str) -> None:
    statements = _RECORDED.pg_statements
    schema = schema_of(url)
    if statements is None:
        _RECORDED.pg_statements = _record_upgrade(url)
        _RECORDED.url = url
    elif schema is not None and _FREE:
        _adopt(url, schema, _FREE.pop())
        return
    else:
        _replay(url, statements)
    if schema is not None:
        engine = make_engine(url, pool_pre_ping=False)
        try:
            with engine.connect() as conn:
                _SHAPES[schema] = _shape(conn, schema)
        finally:
            engine.dispose()


def _replay(url: str, statements: list[tuple[str, Any, bool]]) -> None:
    engine = make_engine(url, pool_pre_ping=False)
    try:
        with engine.begin() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            for statement, parameters, many in statements:
                if many:
                    cursor.executemany(statement, parameters)
                else:
                    cursor.execute(statement, parameters)
            cursor.close()
    finally:
        engine.dispose()


# Clean migrated schemas of this process, and the shape each had when it was made.
_FREE: list[str] = []
_SHAPES: dict[str, tuple[Any, ...]] = {}
_KEEP_FREE = 2

_SHAPE_SQL = """
WITH c AS (SELECT oid, relnatts, xmin FROM pg_class
           WHERE relnamespace = CAST(:schema AS regnamespace))
SELECT (SELECT count(*) FROM c), (SELECT max(oid::int8) FROM c),
       (SELECT sum(relnatts) FROM c), (SELECT sum(xmin::text::int8) FROM c),
       (SELECT count(*) FROM pg_attribute
         WHERE attrelid IN (SELECT oid FROM c) AND attnum > 0 AND NOT attisdropped),
       (SELECT count(*) FROM pg_constraint WHERE conrelid IN (SELECT oid FROM c)),
       (SELECT count(*) FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM c)),
       (SELECT count(*) FROM pg_proc WHERE pronamespace = CAST(:schema AS regnamespace))
"""


def _shape(conn: Connection, schema: str) -> tuple[Any, ...]:
    """What the schema holds (not its rows): any table, column, index, constraint, trigger,
    sequence or function made, altered or dropped changes it (``xmin``: the transaction
    that last wrote a relation's catalog row); and its Alembic revision."""
    row = conn.execute(text(_SHAPE_SQL), {"schema": f'"{schema}"'}).one()
    version = conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version')).all()
    return (*row, tuple(version))


def _adopt(url: str, schema: str, free: str) -> None:
    """The test's empty ``schema`` becomes the clean migrated ``free`` (renamed in its place)."""
    engine = make_engine(url, pool_pre_ping=False)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}"'))
            conn.execute(text(f'ALTER SCHEMA "{free}" RENAME TO "{schema}"'))
    finally:
        engine.dispose()
    _SHAPES[schema] = _SHAPES.pop(free)


def schema_of(url: str) -> str | None:
    """The schema a test's PostgreSQL URL puts first on the search_path (None: none)."""
    query = make_url(url).render_as_string(hide_password=False).partition("?")[2]
    for option in parse_qs(query).get("options", []):
        if option.startswith("-csearch_path="):
            return option.removeprefix("-csearch_path=").split(",")[0]
    return None


def release(url: str, schema: str) -> None:
    """A test is done with ``schema``: emptied and kept for the next one when it still has
    the shape the migration gave it, else dropped."""
    shape = _SHAPES.pop(schema, None)
    engine = make_engine(url, pool_pre_ping=False)
    try:
        with engine.begin() as conn:
            if shape is not None and len(_FREE) < _KEEP_FREE and _shape(conn, schema) == shape:
                free = f"t_{uuid.uuid4().hex[:12]}"
                _empty(conn, schema)
                conn.execute(text(f'ALTER SCHEMA "{schema}" RENAME TO "{free}"'))
                _SHAPES[free] = shape
                _FREE.append(free)
            else:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        engine.dispose()


def _empty(conn: Connection, schema: str) -> None:
    """Delete every row but the Alembic revision and restart every sequence, in one round
    trip (foreign keys are not checked meanwhile: this session replicates)."""
    conn.exec_driver_sql(
        f"""DO $$ DECLARE t text; BEGIN
        SET LOCAL session_replication_role = replica;
        FOR t IN SELECT relname FROM pg_class WHERE relnamespace = '"{schema}"'::regnamespace
            AND relkind IN ('r', 'p') AND NOT relispartition AND relname <> 'alembic_version'
        LOOP EXECUTE 'DELETE FROM ' || quote_ident('{schema}') || '.' || quote_ident(t);
        END LOOP;
        PERFORM setval(c.oid, s.seqstart, false) FROM pg_class c
            JOIN pg_sequence s ON s.seqrelid = c.oid
            WHERE c.relnamespace = '"{schema}"'::regnamespace;
        END $$"""
    )


def _drop_free() -> None:
    """At exit: the clean schemas nobody took are dropped."""
    if not _FREE or _RECORDED.url is None:
        return
    engine = make_engine(_RECORDED.url, pool_pre_ping=False)
    try:
        with engine.begin() as conn:
            for free in _FREE:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{free}" CASCADE'))
    finally:
        engine.dispose()


atexit.register(_drop_free)


def _record_upgrade(url: str) -> list[tuple[str, Any, bool]]:
    """Run the migrations on ``url`` for real, keeping every statement the driver was sent."""
    from alembic import command

    from collector.db.migrate import alembic_config

    sent: list[tuple[str, Any, bool]] = []
    engine = make_engine(url, pool_pre_ping=False)

    def keep(
        _conn: object, _cursor: object, statement: str, parameters: Any, _ctx: object, many: bool
    ) -> None:
        sent.append((statement, parameters, many))

    try:
        with engine.connect() as conn:
            event.listen(conn, "before_cursor_execute", keep)
            config = alembic_config(url)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()
    finally:
        engine.dispose()
    return sent
