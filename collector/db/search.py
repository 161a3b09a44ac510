"""The text index behind the requests table's search (created by migration 0017).

PostgreSQL: a trigram GIN index (``pg_trgm``) on ``requests.error_message`` serves
``ILIKE '%text%'``. SQLite: ``requests_fts``, an FTS5 table with the trigram tokenizer over
the same column (external content: it stores only the index, keyed by the request's rowid),
kept by triggers; only rows with an error message enter it, so the recorder's common insert
pays nothing. A migration that rebuilds ``requests`` on SQLite (a batch "move and copy")
drops the triggers and renumbers rowids: it must call :func:`drop` before and
:func:`create` after.

Autogenerate and ``alembic check`` ignore these objects (``SEARCH_OBJECTS``): the models do
not declare them.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

FTS_TABLE = "requests_fts"
TRGM_INDEX = "ix_requests_error_trgm"
MIN_FTS_CHARS = 3  # a trigram index matches substrings of three characters or more

_TRIGGERS = {
    "requests_fts_ai": "AFTER INSERT ON requests WHEN new.error_message IS NOT NULL BEGIN "
    "INSERT INTO requests_fts(rowid, error_message) VALUES (new.rowid, new.error_message); END",
    "requests_fts_ad": "AFTER DELETE ON requests WHEN old.error_message IS NOT NULL BEGIN "
    "INSERT INTO requests_fts(requests_fts, rowid, error_message) "
    "VALUES ('delete', old.rowid, old.error_message); END",
    "requests_fts_au": "AFTER UPDATE OF error_message ON requests BEGIN "
    "INSERT INTO requests_fts(requests_fts, rowid, error_message) "
    "SELECT 'delete', old.rowid, old.error_message WHERE old.error_message IS NOT NULL; "
    "INSERT INTO requests_fts(rowid, error_message) "
    "SELECT new.rowid, new.error_message WHERE new.error_message IS NOT NULL; END",
}


def is_search_object(name: str | None) -> bool:
    """Whether ``name`` is one of this module's tables (FTS5 and its shadow tables) or indexes."""
    return bool(name) and (str(name).startswith(FTS_TABLE) or name == TRGM_INDEX)


def trgm_schema(conn: Connection) -> str:
    """The schema ``pg_trgm`` is installed in (created in ``public`` when missing)."""
    found = _extension_schema(conn)
    if found is None:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
        found = _extension_schema(conn)
    if found is None:  # pragma: no cover - CREATE EXTENSION raised instead
        raise RuntimeError("pg_trgm could not be installed")
    return found


def _extension_schema(conn: Connection) -> str | None:
    query = (
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    )
    value = conn.execute(text(query)).scalar()
    return None if value is None else str(value)


def create(conn: Connection) -> None:
    """Create the search index of this database's dialect and fill it from ``requests``."""
    if conn.dialect.name == "postgresql":
        schema = trgm_schema(conn).replace('"', '""')
        conn.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS {TRGM_INDEX} ON requests "
                f'USING gin (error_message "{schema}".gin_trgm_ops)'
            )
        )
        return
    conn.execute(
        text(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
            "error_message, content='requests', content_rowid='rowid', tokenize='trigram')"
        )
    )
    for name, body in _TRIGGERS.items():
        conn.execute(text(f"CREATE TRIGGER IF NOT EXISTS {name} {body}"))
    conn.execute(
        text(
            f"INSERT INTO {FTS_TABLE}(rowid, error_message) "  # noqa: S608 - a constant name
            "SELECT rowid, error_message FROM requests WHERE error_message IS NOT NULL"
        )
    )


def drop(conn: Connection) -> None:
    """Remove what :func:`create` made (the ``pg_trgm`` extension stays: others may use it)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"DROP INDEX IF EXISTS {TRGM_INDEX}"))
        return
    for name in _TRIGGERS:
        conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
    conn.execute(text(f"DROP TABLE IF EXISTS {FTS_TABLE}"))


def fts_phrase(needle: str) -> str:
    """``needle`` as one FTS5 phrase (a substring match under the trigram tokenizer)."""
    return '"' + needle.replace('"', '""') + '"'
