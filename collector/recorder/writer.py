"""The only writer of ``requests``/``attempts`` rows and their rollups: one transaction a batch.

Idempotent on request id: ids already stored are skipped (and not rolled up twice), so a
replayed spool batch never duplicates anything.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from operator import attrgetter
from typing import Any

from sqlalchemy import JSON, Column, Connection, Dialect, Engine, Table, TypeDecorator
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from collector.db.models import Attempt, Request, hourly_rollups, hourly_tag_rollups
from collector.db.types import UTCDateTime
from collector.errors import StorageError
from collector.recorder.events import AttemptEvent, UsageEvent
from collector.recorder.rollup import aggregate, aggregate_tags

_REQUESTS: Table = Request.__table__  # type: ignore[assignment]
_ATTEMPTS: Table = Attempt.__table__  # type: ignore[assignment]
_ID_CHUNK = 500
# Bound parameters per SQLite statement (SQLITE_MAX_VARIABLE_NUMBER; 999 before 3.32).
_SQLITE_MAX_PARAMS = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
_MAX_ROWS_PER_STATEMENT = 128


def _power_of_two_at_most(n: int) -> int:
    return 1 << (n.bit_length() - 1)


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
        processors = [(i, _bind_processor(c, dialect)) for i, c in enumerate(cols)]
        self.processors = [(i, p) for i, p in processors if p is not None]
        self.clip = [i for i, c in enumerate(cols) if c.name == "error_message"]
        self._statements: dict[int, str] = {}

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
        """Multi-row INSERTs on SQLite; COPY on PostgreSQL (several times faster than either)."""
        if not rows:
            return
        if conn.dialect.name == "sqlite":
            self._insert_values(conn, rows)
        elif not self.copy:
            conn.exec_driver_sql(self.head + self.group + self.tail, rows)
        else:
            self._copy(conn, rows)

    def _insert_values(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        """A few statements of many rows each, rather than one ``executemany`` step per row.

        The sqlite3 module releases and retakes the GIL around every step: per row, that
        queued the writer thread behind the busy event loop (and interrupted the loop) once
        per event. One statement of N rows is one step. Row counts are powers of two, so
        only a few statements are ever prepared (sqlite3 caches each: one per batch size
        grew the process by hundreds of MB).
        """
        most = min(_MAX_ROWS_PER_STATEMENT, max(1, _SQLITE_MAX_PARAMS // len(rows[0])))
        start = 0
        while start < len(rows):
            n = _power_of_two_at_most(min(most, len(rows) - start))
            params = tuple(value for row in rows[start : start + n] for value in row)
            conn.exec_driver_sql(self._values_sql(n), params)
            start += n

    def _values_sql(self, n: int) -> str:
        sql = self._statements.get(n)
        if sql is None:
            sql = self._statements[n] = self.head + ", ".join([self.group] * n) + self.tail
        return sql

    def _copy(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
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


def _bind_processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """SQLAlchemy's bind processor, with a shortcut for the values almost every row holds.

    Timestamps (UTC) and empty JSON objects took two thirds of the time spent building a
    row; each shortcut returns exactly what the processor returns (checked here, once).
    """
    impl = column.type.dialect_impl(dialect)
    process = impl.bind_processor(dialect)
    if process is None:
        return None
    if isinstance(column.type, JSON):
        return _empty_json(process)
    if isinstance(column.type, UTCDateTime) and isinstance(impl, TypeDecorator):
        storage = getattr(impl.impl_instance, "_storage_format", None)
        if dialect.name == "sqlite" and storage == _SQLITE_DATETIME_FORMAT:
            return _checked(_sqlite_utc(process), process, _DATETIME_SAMPLES)
    return process


_SQLITE_DATETIME_FORMAT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)
_DATETIME_SAMPLES = (
    datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 6, 1, 12, tzinfo=timezone(timedelta(hours=2))),
)


def _empty_json(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    empty = process({})

    def fast(value: Any) -> Any:
        return empty if type(value) is dict and not value else process(value)

    return fast


def _sqlite_utc(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def fast(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is UTC:
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return process(value)

    return fast


def _checked(
    fast: Callable[[Any], Any], process: Callable[[Any], Any], samples: Sequence[Any]
) -> Callable[[Any], Any]:
    """``fast`` if it agrees with ``process`` on the samples, else ``process`` itself."""
    return fast if all(fast(v) == process(v) for v in samples) else process


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
    """Which ids are stored already (plain SQL: building a 500-value IN cost more than it)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    found: set[str] = set()
    for i in range(0, len(ids), _ID_CHUNK):
        chunk = tuple(ids[i : i + _ID_CHUNK])
        sql = f'SELECT id FROM "{_REQUESTS.name}" WHERE id IN ({", ".join([mark] * len(chunk))})'
        found.update(conn.exec_driver_sql(sql, chunk).scalars())
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
