"""Migrated databases for fixtures, at a fraction of Alembic's cost per test.

Running every migration takes ~0.7 s on SQLite and more on PostgreSQL, and most database tests
start from an empty database at the newest schema. So each test process migrates once per
backend for real and repeats the result: on SQLite it copies the migrated file (closed, so the
write-ahead log is already folded in); on PostgreSQL it replays, in a fresh schema, the exact
statements that first migration sent (DDL names no schema; the connection's search_path decides).
That replay costs PostgreSQL ~0.3 s of DDL, so while a test runs the next migrated schema is
made on a thread (``_Ahead``), and a test's empty schema is swapped for it by a rename; a
test's schema is dropped on that thread too. Tests of the migrations themselves keep calling
``upgrade_head``.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from collector.db import make_engine, upgrade_head


@dataclass
class _Recorded:
    """What the first real migration in this process left to repeat."""

    sqlite_file: Path | None = None
    pg_statements: list[tuple[str, Any, bool]] | None = None
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
    if statements is None:
        _RECORDED.pg_statements = _record_upgrade(url)
        _AHEAD.prepare(url)
        return
    schema = schema_of(url)
    ready = _AHEAD.take() if schema is not None else None
    if schema is None or ready is None:
        _replay(url, statements)
    else:
        _adopt(url, schema, ready)
    _AHEAD.prepare(url)


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


def _adopt(url: str, schema: str, ready: str) -> None:
    """The empty schema ``schema`` becomes the migrated ``ready`` (renamed in its place)."""
    engine = make_engine(url, pool_pre_ping=False)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}"'))
            conn.execute(text(f'ALTER SCHEMA "{ready}" RENAME TO "{schema}"'))
    finally:
        engine.dispose()


def schema_of(url: str) -> str | None:
    """The schema a test's PostgreSQL URL puts first on the search_path (None: none)."""
    options = parse_qs(make_url(url).render_as_string(hide_password=False).partition("?")[2])
    for option in options.get("options", []):
        if option.startswith("-csearch_path="):
            return option.removeprefix("-csearch_path=").split(",")[0]
    return None


def with_schema(url: str, schema: str) -> str:
    """``url`` (without options of its own) with ``schema`` as its search_path."""
    base = url.partition("?")[0]
    return f"{base}?options={quote(f'-csearch_path={schema}')}"


class _Ahead:
    """One migrated schema made ahead on a thread; dropping tests' schemas goes there too."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="migrated-ahead")
        self._next: Future[str] | None = None
        self._url = ""  # the server's (any schema)

    def prepare(self, url: str) -> None:
        if self._next is None and _RECORDED.pg_statements is not None:
            self._url = url
            self._next = self._thread.submit(self._make, url, _RECORDED.pg_statements)

    def take(self) -> str | None:
        """The schema made ahead (None: none, or making it failed)."""
        ahead, self._next = self._next, None
        if ahead is None:
            return None
        try:
            return ahead.result(timeout=120)
        except Exception:
            return None

    def drop(self, url: str, schema: str) -> None:
        """Drop ``schema`` (a finished test's) on the thread."""
        self._thread.submit(_drop, url, schema)

    @staticmethod
    def _make(url: str, statements: list[tuple[str, Any, bool]]) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        engine = make_engine(url, pool_pre_ping=False)
        try:
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{name}"'))
        finally:
            engine.dispose()
        _replay(with_schema(url, name), statements)
        return name

    def close(self) -> None:
        """At exit: the schema made ahead and unused is dropped, pending drops are done."""
        ahead, self._next = self._next, None
        self._thread.shutdown(wait=True)  # (the interpreter's exit has already begun this)
        if ahead is not None and ahead.exception() is None:
            _drop(self._url, ahead.result())


def _drop(url: str, schema: str) -> None:
    engine = make_engine(url, pool_pre_ping=False)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()


_AHEAD = _Ahead()
atexit.register(_AHEAD.close)


def drop_later(url: str, schema: str) -> None:
    """Drop a finished test's schema on the thread that makes schemas ahead."""
    _AHEAD.drop(url, schema)


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
