"""The fixtures' migrated databases (copies of one real migration) equal a real migration."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text

from collector.db import make_engine, upgrade_head
from collector.db.migrate import check
from tests.conftest import _pg_schema
from tests.factories import make_project
from tests.support.templates import migrate


def _plain(value: object) -> str:
    """A reflected item as text (a partial index's WHERE clause by its SQL, not its id)."""
    return json.dumps(value, sort_keys=True, default=str)


def _snapshot(url: str) -> dict[str, Any]:
    """Every table, column, key, index, trigger and function the database at ``url`` has."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            tables: dict[str, Any] = {}
            for name in sorted(insp.get_table_names()):
                tables[name] = (
                    [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(name)],
                    insp.get_pk_constraint(name),
                    sorted(map(_plain, insp.get_foreign_keys(name))),
                    sorted(map(_plain, insp.get_indexes(name))),
                    sorted(map(_plain, insp.get_unique_constraints(name))),
                )
            if conn.dialect.name == "sqlite":
                # a table's SQL lists its constraints in an order Alembic's batch mode does not
                # keep from one run to the next: tables are compared by reflection above
                query = (
                    "SELECT type, name, CASE type WHEN 'table' THEN '' ELSE sql END"
                    " FROM sqlite_master ORDER BY type, name"
                )
            else:
                query = (
                    "SELECT 'trigger', trigger_name || event_manipulation, action_statement"
                    " FROM information_schema.triggers WHERE trigger_schema = current_schema()"
                    " UNION ALL SELECT 'function', p.proname, p.prosrc FROM pg_proc p"
                    " JOIN pg_namespace n ON n.oid = p.pronamespace"
                    " WHERE n.nspname = current_schema()"
                    " UNION ALL SELECT 'sequence', sequence_name, data_type"
                    " FROM information_schema.sequences WHERE sequence_schema = current_schema()"
                    " ORDER BY 1, 2, 3"
                )
            objects = [tuple(row) for row in conn.execute(text(query))]
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    return {"tables": tables, "objects": objects, "version": version}


@contextlib.contextmanager
def _empty(db_url: str, tmp_path: Path, name: str) -> Iterator[str]:
    """Another empty database on ``db_url``'s backend."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / name}"
        return
    with _pg_schema() as url:
        yield url


def test_a_copied_database_equals_a_migrated_one(db_url: str, tmp_path: Path) -> None:
    upgrade_head(db_url)
    expected = _snapshot(db_url)
    assert expected["tables"] and expected["objects"] and expected["version"]  # a real schema
    with _empty(db_url, tmp_path, "first.db") as first, _empty(db_url, tmp_path, "copy.db") as copy:
        migrate(first)  # a real migration, or already a copy when this process made one before
        migrate(copy)  # certainly a copy
        for url in (first, copy):
            assert _snapshot(url) == expected
            check(url)  # the models and the copy agree, as Alembic sees it


def test_a_copy_is_independent_of_the_one_it_was_copied_from(db_url: str, tmp_path: Path) -> None:
    with _empty(db_url, tmp_path, "a.db") as a, _empty(db_url, tmp_path, "b.db") as b:
        migrate(a)
        migrate(b)
        engine = make_engine(a)
        make_project(engine, "only-in-a")
        engine.dispose()
        engine = make_engine(b)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM projects")).scalar() == 0
        engine.dispose()
