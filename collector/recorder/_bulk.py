"""Bulk statements of the writer: multi-row INSERTs and upserts (SQLite), COPY (PostgreSQL).

Values are read from the events and converted a statement's chunk at a time, column by
column (``_binds.Columns``), so no list of row tuples outlives its statement: a batch's
thousands of live tuples used to trigger full garbage collections over the whole heap, which
cost as much as building them.
Statements run on a DBAPI connection (``sqlite3`` or ``psycopg``), from a ``TablePlan``:
no SQLAlchemy here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from itertools import chain, islice
from operator import itemgetter
from typing import Any

from collector.errors import StorageError
from collector.recorder._binds import Column, Columns
from collector.recorder._plan import TablePlan
from collector.units import MONEY_UNIT

# Bound parameters per SQLite statement (SQLITE_MAX_VARIABLE_NUMBER; 999 before 3.32).
_SQLITE_MAX_PARAMS = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
_MAX_ROWS_PER_STATEMENT = 128
_UNIT = MONEY_UNIT
_NULL = "NULL"

Row = tuple[Any, ...]
Groups = dict[Any, dict[str, Any]]


class PoisonBatch(StorageError):
    """The database rejected the data itself (not the connection): retrying cannot help."""


def _power_of_two_at_most(n: int) -> int:
    return 1 << (n.bit_length() - 1)


class BulkInsert:
    """Plain DBAPI inserts into one table, of rows of unconverted values (``_binds.Columns``)."""

    def __init__(
        self,
        table: TablePlan,
        columns: Sequence[str],
        dialect: str,
        literal_nulls: bool = False,
    ) -> None:
        names = tuple(columns)
        mark = "?" if dialect == "sqlite" else "%s"
        self.quoted = ", ".join(f'"{name}"' for name in names)
        self.table = table.name
        self.head = f'INSERT INTO "{table.name}" ({self.quoted}) VALUES '  # noqa: S608 - schema names
        self.group = f"({', '.join([mark] * len(names))})"
        self.width = len(names)
        self.names = list(names)
        self.copy_sql = f'COPY "{table.name}" ({self.quoted}) FROM STDIN'
        self.columns = Columns(names, table.kinds_of(names), dialect)
        self.mark = mark
        self.literal_nulls = literal_nulls
        self._statements: dict[tuple[int, str, tuple[int, ...]], str] = {}

    def insert(self, conn: Any, rows: Iterable[Row], count: int, tail: str = "") -> None:
        """``count`` rows in a few statements of many rows each (``tail`` ends each statement).

        One statement of N rows is one sqlite3 step (the module releases and retakes the GIL
        around every step: per row, that queued the writer behind the event loop). Row counts
        are powers of two, so only a few statements are ever prepared (sqlite3 caches each).
        """
        most = min(_MAX_ROWS_PER_STATEMENT, max(1, _SQLITE_MAX_PARAMS // self.width))
        rows = iter(rows)
        left = count
        while left > 0:
            n = _power_of_two_at_most(min(most, left))
            columns = self.columns(list(islice(rows, n)))
            if self.literal_nulls and n == most:
                self._insert_full_chunk(conn, columns, n, tail)
            else:
                params = tuple(chain.from_iterable(zip(*columns, strict=True)))
                conn.execute(self._values_sql(n, tail), params)
            left -= n

    def _insert_full_chunk(self, conn: Any, columns: list[Column], n: int, tail: str) -> None:
        """A full-size statement whose all-NULL columns are written as ``NULL``, not bound.

        CPython's sqlite3 sends each None through its adapter lookup (see bench/README.md);
        most optional columns (error, tier, audio, ...) are NULL in every row of a chunk,
        which the chunk's columns show in C. Only full chunks vary their SQL this way, so few
        statements are prepared (sqlite3 caches 128).
        """
        nulls = tuple(i for i, column in enumerate(columns) if column.count(None) == n)
        if nulls:
            columns = [column for i, column in enumerate(columns) if i not in nulls]
        params = tuple(chain.from_iterable(zip(*columns, strict=True)))
        conn.execute(self._values_sql(n, tail, nulls), params)

    def _values_sql(self, n: int, tail: str, nulls: tuple[int, ...] = ()) -> str:
        sql = self._statements.get((n, tail, nulls))
        if sql is None:
            group = self.group
            if nulls:
                marks = [_NULL if i in nulls else self.mark for i in range(self.width)]
                group = f"({', '.join(marks)})"
            sql = self.head + ", ".join([group] * n) + tail
            self._statements[n, tail, nulls] = sql
        return sql

    def copy(self, conn: Any, rows: Iterable[Row]) -> None:
        """PostgreSQL's COPY (several times faster than any INSERT); poison is classified."""
        import psycopg as dbapi  # only PostgreSQL copies

        cursor = conn.cursor()
        try:
            with cursor.copy(self.copy_sql) as copy:
                write = copy.write_row
                for row in self.columns.rows(rows):
                    write(row)
        except (dbapi.IntegrityError, dbapi.DataError) as exc:
            raise PoisonBatch(f"rows rejected: {exc!r}"[:500]) from exc
        except dbapi.Error as exc:
            raise StorageError(f"COPY failed: {exc.__class__.__name__}") from exc
        finally:
            cursor.close()


class BulkUpsert(BulkInsert):
    """``INSERT … ON CONFLICT (keys) DO UPDATE SET c = c + excluded.c`` (SQLite and PostgreSQL)."""

    def __init__(self, table: TablePlan, dialect: str) -> None:
        columns, keys = list(table.columns), list(table.keys)
        if not keys or columns[: len(keys)] != keys:
            raise AssertionError(f"{table.name}: key columns must come first")
        super().__init__(table, columns, dialect)
        self.keys = keys
        counters = [c for c in columns if c not in keys]
        self.counters = itemgetter(*counters) if len(counters) > 1 else _one(counters[0])
        self.key_columns = Columns(keys, table.kinds_of(tuple(keys)), dialect)
        updates = ", ".join(f'"{c}" = "{table.name}"."{c}" + excluded."{c}"' for c in counters)
        conflict = ", ".join(f'"{k}"' for k in keys)
        self.tail = f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        # PostgreSQL: one statement and one parameter whatever the row count: the rows as a
        # JSON array of objects holding only the non-zero counters (most of the 50-odd
        # histogram buckets are 0; absent ones read as NULL and count as 0)
        values = [f'"{k}"' for k in keys] + [f'COALESCE("{c}", 0)' for c in counters]
        self.recordset = (
            f'INSERT INTO "{table.name}" ({self.quoted}) SELECT {", ".join(values)} '  # noqa: S608 - schema names
            f'FROM json_populate_recordset(NULL::"{table.name}", %s::json)' + self.tail
        )

    def write(self, conn: Any, groups: Groups) -> None:
        """Add each group's counters to its row (SQLite: multi-row upserts)."""
        if groups:
            counters = self.counters
            rows = ((*key, *counters(values)) for key, values in groups.items())
            self.insert(conn, rows, len(groups), self.tail)

    def payload(self, groups: Groups) -> str:
        """The groups as the JSON array ``recordset`` reads (PostgreSQL): keys and non-zeros.

        In key order: the upsert locks its rows in the array's order, so two writers (two
        gateways) adding to the same rows lock them in the same order and never deadlock.
        """
        keys = self.keys
        objects = []
        rows = zip(self.key_columns.rows(groups), groups.values(), strict=True)
        for key, values in sorted(rows, key=_lock_order):
            obj = dict(zip(keys, key, strict=True))
            obj.update([item for item in values.items() if item[1]])
            objects.append(obj)
        return json.dumps(objects, default=_json_value)


def _lock_order(row: tuple[Row, dict[str, Any]]) -> tuple[tuple[bool, Any], ...]:
    """A rollup row's key as a sort key (a NULL first in its column, never compared)."""
    return tuple((value is not None, value) for value in row[0])


def _json_value(value: Any) -> str:
    """Money exactly as the column's processor sends it; naive UTC datetimes as text."""
    if type(value) is Decimal:
        return str(value.quantize(_UNIT))
    return str(value)


def _one(name: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    return lambda values: (values[name],)


def pg_rollup_statement(upserts: Sequence[BulkUpsert]) -> str:
    """All upserts as one PostgreSQL statement (data-modifying CTEs, one JSON each).

    One round trip per batch instead of one per table; each upsert touches its own table,
    so no row is changed twice in the statement.
    """
    parts = [u.recordset for u in upserts]
    ctes = ", ".join(f"u{i} AS ({sql})" for i, sql in enumerate(parts[:-1]))
    return f"WITH {ctes} {parts[-1]}"
