"""The only writer of ``requests``/``attempts`` rows and their rollups: one transaction a batch.

Idempotent on request id: ids already stored are skipped (and not rolled up twice), so a
replayed spool batch never duplicates anything. The rollups written with the rows: hourly
and daily request rollups, hourly and daily tag rollups, hourly error rollups — all from
one in-memory aggregation of the fresh events (no database triggers since migration 0005).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Table
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from collector.db.models import (
    Attempt,
    Request,
    daily_rollups,
    daily_tag_rollups,
    hourly_error_rollups,
    hourly_rollups,
    hourly_tag_rollups,
)
from collector.errors import StorageError
from collector.recorder._binds import bind_processor, row_builder
from collector.recorder.events import AttemptEvent, UsageEvent
from collector.recorder.rollup import aggregate_all, by_day

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
        self.max_params = _SQLITE_MAX_PARAMS
        self.names = [c.name for c in cols]
        self.recordset: str | None = None
        self.recordset_head = (
            f'INSERT INTO "{table.name}" ({names}) SELECT {names} '
            f'FROM json_populate_recordset(NULL::"{table.name}", %s::json)'
        )
        self.copy_sql = f'COPY "{table.name}" ({names}) FROM STDIN'
        processors = {i: bind_processor(c, dialect) for i, c in enumerate(cols)}
        clip = {i for i, c in enumerate(cols) if c.name == "error_message"}
        self.row = row_builder(len(cols), {i: p for i, p in processors.items() if p}, clip)
        self._statements: dict[int, str] = {}

    def execute(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        """Multi-row INSERTs on SQLite; COPY on PostgreSQL (several times faster than either)."""
        if not rows:
            return
        if self.copy:
            self._copy(conn, rows)
        elif self.recordset is not None:
            names = self.names
            payload = json.dumps([dict(zip(names, row, strict=True)) for row in rows], default=str)
            conn.exec_driver_sql(self.recordset, (payload,))
        else:
            self._insert_values(conn, rows)

    def _insert_values(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        """A few statements of many rows each, rather than one ``executemany`` step per row.

        The sqlite3 module releases and retakes the GIL around every step: per row, that
        queued the writer thread behind the busy event loop (and interrupted the loop) once
        per event. One statement of N rows is one step. Row counts are powers of two, so
        only a few statements are ever prepared (sqlite3 caches each: one per batch size
        grew the process by hundreds of MB).
        """
        most = min(_MAX_ROWS_PER_STATEMENT, max(1, self.max_params // len(rows[0])))
        start = 0
        while start < len(rows):
            n = _power_of_two_at_most(min(most, len(rows) - start))
            params = tuple(chain.from_iterable(rows[start : start + n]))
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
    """Which ids are stored already (plain SQL: building a 500-value IN cost more than it).

    PostgreSQL gets all ids as one array parameter (one statement, one plan).
    """
    table = _REQUESTS.name
    if conn.dialect.name == "postgresql":
        sql = f'SELECT id FROM "{table}" WHERE id = ANY(%s::varchar[])'
        return set(conn.exec_driver_sql(sql, (ids,)).scalars())
    found: set[str] = set()
    for i in range(0, len(ids), _ID_CHUNK):
        chunk = tuple(ids[i : i + _ID_CHUNK])
        sql = f'SELECT id FROM "{table}" WHERE id IN ({", ".join(["?"] * len(chunk))})'
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
        if self.columns[: len(keys)] != list(keys):
            raise AssertionError(f"{table.name}: key columns must come first")
        super().__init__(table, self.columns, dialect)
        counters = [c for c in self.columns if c not in keys]
        self.counters = itemgetter(*counters) if len(counters) > 1 else _one(counters[0])
        updates = ", ".join(f'"{c}" = "{table.name}"."{c}" + excluded."{c}"' for c in counters)
        conflict = ", ".join(f'"{k}"' for k in keys)
        self.tail = f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        self.copy = False  # an upsert cannot COPY
        if dialect.name == "postgresql":
            # one statement and one parameter whatever the row count: the rows as a JSON
            # array (dumped in C; per-value array or row parameters cost more than the upsert)
            self.recordset = self.recordset_head + self.tail

    def rows(self, groups: dict[Any, dict[str, Any]]) -> list[tuple[Any, ...]]:
        """The DBAPI rows of the groups: key columns first, then the counters."""
        counters = self.counters
        row = self.row
        return [row((*key, *counters(values))) for key, values in groups.items()]

    def write(self, conn: Connection, groups: dict[Any, dict[str, Any]]) -> None:
        """Add each group's counters to its row."""
        if groups:
            self.execute(conn, self.rows(groups))

    def payload(self, groups: dict[Any, dict[str, Any]]) -> str:
        """The groups as the JSON array ``recordset`` reads (PostgreSQL)."""
        names = self.names
        rows = self.rows(groups)
        return json.dumps([dict(zip(names, row, strict=True)) for row in rows], default=str)


def _one(name: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    return lambda values: (values[name],)


_ROLLUP_KEYS = ("hour", "project_id", "api_key_id", "end_user", "model", "outcome")
_TAG_KEYS = ("hour", "tag", "project_id", "model", "outcome")
_DAILY_KEYS = ("day", *_ROLLUP_KEYS[1:])
_DAILY_TAG_KEYS = ("day", *_TAG_KEYS[1:])
_ERROR_KEYS = (*_ROLLUP_KEYS, "error_type", "http_status")


@dataclass(frozen=True, slots=True)
class _Upserters:
    hourly: _BulkUpsert
    daily: _BulkUpsert
    tags: _BulkUpsert
    daily_tags: _BulkUpsert
    errors: _BulkUpsert

    def all(self) -> tuple[_BulkUpsert, ...]:
        return (self.hourly, self.daily, self.tags, self.daily_tags, self.errors)


@lru_cache(maxsize=8)
def _upserters(dialect: Dialect) -> _Upserters:
    return _Upserters(
        hourly=_BulkUpsert(hourly_rollups, _ROLLUP_KEYS, dialect),
        daily=_BulkUpsert(daily_rollups, _DAILY_KEYS, dialect),
        tags=_BulkUpsert(hourly_tag_rollups, _TAG_KEYS, dialect),
        daily_tags=_BulkUpsert(daily_tag_rollups, _DAILY_TAG_KEYS, dialect),
        errors=_BulkUpsert(hourly_error_rollups, _ERROR_KEYS, dialect),
    )


@lru_cache(maxsize=8)
def _pg_rollup_statement(dialect: Dialect) -> str:
    """All five upserts as one PostgreSQL statement (data-modifying CTEs, one JSON each).

    One round trip per batch instead of five; each upsert touches its own table, so no row
    is changed twice in the statement.
    """
    parts = [u.recordset for u in _upserters(dialect).all()]
    assert all(parts)
    ctes = ", ".join(f"u{i} AS ({sql})" for i, sql in enumerate(parts[:-1]))
    return f"WITH {ctes} {parts[-1]}"


def _rollup(conn: Connection, fresh: Sequence[UsageEvent]) -> None:
    """All rollups of the fresh events; the daily ones are the hourly increments by day."""
    up = _upserters(conn.dialect)
    sums = aggregate_all(fresh)
    groups: tuple[dict[Any, dict[str, Any]], ...] = (
        sums.rollups,
        by_day(sums.rollups),
        sums.tags,
        by_day(sums.tags),
        sums.errors,
    )
    if conn.dialect.name == "postgresql":
        payloads = tuple(u.payload(g) for u, g in zip(up.all(), groups, strict=True))
        conn.exec_driver_sql(_pg_rollup_statement(conn.dialect), payloads)
        return
    for upsert, group in zip(up.all(), groups, strict=True):
        upsert.write(conn, group)


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
