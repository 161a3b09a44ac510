"""Migrated databases for fixtures, at a fraction of Alembic's cost per test.

Running every migration takes ~0.7 s on SQLite and more on PostgreSQL, and most database tests
start from an empty database at the newest schema. So each test process migrates once per
backend for real and repeats the result: on SQLite it copies the migrated file (closed, so the
write-ahead log is already folded in); on PostgreSQL it replays, in a fresh schema, the exact
statements that first migration sent (DDL names no schema; the connection's search_path decides).
Tests of the migrations themselves keep calling ``upgrade_head``.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event
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
        return
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
