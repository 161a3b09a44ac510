"""A migration cut short (the process killed, the disk full) leaves the database at the last
revision it fully has, so the next upgrade runs: each migration is one transaction with its
revision, on SQLite too (whose driver committed before every DDL statement)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, event, inspect, text

from collector.db import make_engine
from collector.db.migrate import HEAD_REVISION, alembic_config, upgrade_head


class Cut(Exception):
    """Stands for the kill: raised right after one statement of a migration has run."""


def _cut_after(statement_part: str) -> Any:
    def after(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement_part in statement:
            raise Cut(statement)

    return after


def _state(url: str) -> tuple[str, set[str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        return str(revision), {c["name"] for c in inspect(engine).get_columns("attempts")}
    finally:
        engine.dispose()


def test_a_migration_cut_after_its_first_statement_is_undone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'spendscope.db'}"
    command.upgrade(alembic_config(url), "0022")
    # 0025 adds ``provider`` to requests, then to attempts: stop it between the two
    cut = _cut_after("ALTER TABLE requests ADD COLUMN provider")
    event.listen(Engine, "after_cursor_execute", cut)
    try:
        with pytest.raises(Cut):
            upgrade_head(url)
    finally:
        event.remove(Engine, "after_cursor_execute", cut)
    revision, _ = _state(url)
    assert revision == "0022"
    engine = make_engine(url)
    try:
        requests = {c["name"] for c in inspect(engine).get_columns("requests")}
    finally:
        engine.dispose()
    assert "provider" not in requests  # the first ADD COLUMN went with the rest
    upgrade_head(url)  # before: "duplicate column name: provider", at every start
    revision, attempts = _state(url)
    assert revision == HEAD_REVISION and "provider" in attempts
