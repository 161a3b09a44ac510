"""The only writer of ``requests``/``attempts`` rows and their rollups: one transaction a batch.

Idempotent on request id: ids already stored are skipped (and not rolled up twice), so a
replayed spool batch never duplicates anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from functools import lru_cache
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Table, select
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from collector.db.models import Attempt, Request, hourly_rollups, hourly_tag_rollups
from collector.errors import StorageError
from collector.recorder.events import AttemptEvent, UsageEvent
from collector.recorder.rollup import aggregate, aggregate_tags

_REQUESTS: Table = Request.__table__  # type: ignore[assignment]
_ATTEMPTS: Table = Attempt.__table__  # type: ignore[assignment]
_ID_CHUNK = 500


class PoisonBatch(StorageError):
    """The database rejected the data itself (not the connection): retrying cannot help."""


_REQUEST_FIELDS = tuple(f.name for f in fields(UsageEvent) if f.name != "attempts")
_ATTEMPT_FIELDS = tuple(f.name for f in fields(AttemptEvent))


class _BulkInsert:
    """A plain DBAPI executemany for one table, with SQLAlchemy's own bind processors.

    Core's per-row parameter handling cost more than the database itself; this keeps the
    same type conversions (Money, UTCDateTime, JSON) but resolves them once per dialect.
    """

    def __init__(self, table: Table, columns: Sequence[str], dialect: Dialect) -> None:
        cols = [table.c[name] for name in columns]
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        names = ", ".join(f'"{c.name}"' for c in cols)
        self.head = f'INSERT INTO "{table.name}" ({names}) VALUES '
        self.group = f"({', '.join([mark] * len(cols))})"
        self.tail = ""
        self.copy = dialect.name == "postgresql"
        self.copy_sql = f'COPY "{table.name}" ({names}) FROM STDIN'
        processors = [
            (i, c.type.dialect_impl(dialect).bind_processor(dialect)) for i, c in enumerate(cols)
        ]
        self.processors = [(i, p) for i, p in processors if p is not None]
        self.clip = [i for i, c in enumerate(cols) if c.name == "error_message"]

    def row(self, values: Sequence[Any]) -> tuple[Any, ...]:
        out = list(values)
        for i in self.clip:
            if out[i]:
                out[i] = out[i][:1000]
        for i, process in self.processors:
            if out[i] is not None:
                out[i] = process(out[i])
        return tuple(out)

    def execute(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        """executemany on SQLite (a C loop); COPY on PostgreSQL (several times faster)."""
        if not rows:
            return
        if not self.copy:
            conn.exec_driver_sql(self.head + self.group + self.tail, rows)
            return
        dbapi = conn.dialect.loaded_dbapi
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            with cursor.copy(self.copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
        except (dbapi.IntegrityError, dbapi.DataError) as exc:
            raise PoisonBatch(f"rows rejected: {exc!r}"[:500]) from exc
        except dbapi.Error as exc:
            raise StorageError(f"COPY failed: {exc.__class__.__name__}") from exc
        finally:
            cursor.close()


@lru_cache(maxsize=8)
def _inserters(dialect: Dialect) -> tuple[_BulkInsert, _BulkInsert]:
    requests = _BulkInsert(_REQUESTS, [*_REQUEST_FIELDS, "attempt_count"], dialect)
    attempts = _BulkInsert(_ATTEMPTS, ["request_id", *_ATTEMPT_FIELDS], dialect)
    return requests, attempts


_request_values = attrgetter(*_REQUEST_FIELDS)
_attempt_values = attrgetter(*_ATTEMPT_FIELDS)


def _insert_rows(conn: Connection, fresh: Sequence[UsageEvent]) -> None:
    requests, attempts = _inserters(conn.dialect)
    request_rows = [requests.row((*_request_values(e), len(e.attempts))) for e in fresh]
    attempt_rows = [attempts.row((e.id, *_attempt_values(a))) for e in fresh for a in e.attempts]
    requests.execute(conn, request_rows)
    attempts.execute(conn, attempt_rows)


def _existing_ids(conn: Connection, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), _ID_CHUNK):
        chunk = ids[i : i + _ID_CHUNK]
        found.update(conn.scalars(select(_REQUESTS.c.id).where(_REQUESTS.c.id.in_(chunk))))
    return found


def _fresh(conn: Connection, events: Sequence[UsageEvent]) -> list[UsageEvent]:
    existing = _existing_ids(conn, [e.id for e in events])
    fresh: list[UsageEvent] = []
    for e in events:
        if e.id not in existing:
            existing.add(e.id)
            fresh.append(e)
    return fresh


class _BulkUpsert(_BulkInsert):
    """``INSERT … ON CONFLICT (keys) DO UPDATE SET c = c + excluded.c`` (SQLite and PostgreSQL)."""

    def __init__(self, table: Table, keys: Sequence[str], dialect: Dialect) -> None:
        self.columns = [c.name for c in table.columns]
        super().__init__(table, self.columns, dialect)
        counters = [c for c in self.columns if c not in keys]
        updates = ", ".join(f'"{c}" = "{table.name}"."{c}" + excluded."{c}"' for c in counters)
        conflict = ", ".join(f'"{k}"' for k in keys)
        self.tail = f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        self.copy = False  # an upsert cannot COPY


_ROLLUP_KEYS = ("hour", "project_id", "api_key_id", "end_user", "model", "outcome")
_TAG_KEYS = ("hour", "tag", "project_id", "model", "outcome")


@lru_cache(maxsize=8)
def _upserters(dialect: Dialect) -> tuple[_BulkUpsert, _BulkUpsert]:
    return (
        _BulkUpsert(hourly_rollups, _ROLLUP_KEYS, dialect),
        _BulkUpsert(hourly_tag_rollups, _TAG_KEYS, dialect),
    )


def _upsert(
    conn: Connection, upsert: _BulkUpsert, keys: Sequence[str], groups: dict[Any, dict[str, Any]]
) -> None:
    if not groups:
        return
    rows = []
    for key, counters in groups.items():
        values = dict(zip(keys, key, strict=True)) | counters
        rows.append(upsert.row([values[c] for c in upsert.columns]))
    upsert.execute(conn, rows)


def _rollup(conn: Connection, fresh: Sequence[UsageEvent]) -> None:
    rollups, tags = _upserters(conn.dialect)
    _upsert(conn, rollups, _ROLLUP_KEYS, aggregate(fresh))
    _upsert(conn, tags, _TAG_KEYS, aggregate_tags(fresh))


def write_batch(engine: Engine, events: Sequence[UsageEvent]) -> int:
    """Write a batch in one transaction; returns how many requests were new.

    Raises StorageError when the database refuses, leaving nothing half-written.
    """
    if not events:
        return 0
    try:
        with engine.begin() as conn:
            fresh = _fresh(conn, events)
            if not fresh:
                return 0
            _insert_rows(conn, fresh)
            _rollup(conn, fresh)
            return len(fresh)
    except StorageError:  # already classified (raised by a COPY)
        raise
    except (IntegrityError, DataError) as exc:
        raise PoisonBatch(f"batch of {len(events)} rejected: {exc.orig!r}"[:500]) from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"batch of {len(events)} not written: {exc.__class__.__name__}") from exc
