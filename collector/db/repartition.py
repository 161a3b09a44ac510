"""Migration 0031 on PostgreSQL: ``requests`` and ``attempts`` become partitioned tables by
month (:mod:`collector.db.partitions`), and back on downgrade, every row and id kept.

Each table is set aside under another name, its successor created with the same columns
(``LIKE``), the rows copied, then its primary key, foreign keys and indexes (the search
index included, whatever migrations made them) put back by their own definitions, read
from the catalog. The statements name no schema: the connection's ``search_path`` decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text

from collector.db import month_cut, month_stage, partitions
from collector.db.partitions import KEYS, TABLES

FIRST_MONTH = datetime(2000, 1, 1, tzinfo=UTC)  # older ULID months go to the default pair
PARENT_KEY = "fk_attempts_request_id_requests"  # attempts → requests on plain tables
PARENT_KEY_DEF = "FOREIGN KEY (request_id) REFERENCES requests (id) ON DELETE CASCADE"
_ON_TABLE = re.compile(r" ON (ONLY )?\S+ USING ")
_REFERENCES = re.compile(r"REFERENCES (\S+\.)?")


@dataclass(frozen=True, slots=True)
class Definitions:
    """A table's primary key, foreign keys and other indexes, as SQL to put them back."""

    primary: tuple[str, str]  # (name, definition)
    foreign: tuple[tuple[str, str], ...]
    indexes: tuple[tuple[str, str], ...]  # (name, CREATE INDEX … naming no schema)


def definitions(conn: Connection, table: str) -> Definitions:
    constraints = conn.execute(
        text(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = to_regclass(:t) AND contype IN ('p', 'f') ORDER BY conname"
        ),
        {"t": table},
    ).all()
    indexes = conn.execute(
        text(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass(:t) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
            "ORDER BY c.relname"
        ),
        {"t": table},
    ).all()
    primary = next((n, d) for n, kind, d in constraints if kind == "p")
    foreign = tuple((n, _REFERENCES.sub("REFERENCES ", d)) for n, k, d in constraints if k == "f")
    local = tuple((n, _ON_TABLE.sub(f" ON {table} USING ", d)) for n, d in indexes)
    return Definitions(primary, foreign, local)


def _set_aside(conn: Connection, table: str, saved: Definitions, suffix: str) -> None:
    """Rename ``table`` out of the way and free the names its successor needs."""
    aside = f"{table}_{suffix}"
    conn.execute(text(f"ALTER TABLE {table} RENAME TO {aside}"))
    name = saved.primary[0]
    conn.execute(text(f"ALTER TABLE {aside} RENAME CONSTRAINT {name} TO {name}_{suffix}"))
    for index, _ in saved.indexes:
        conn.execute(text(f"DROP INDEX {index}"))


def _put_back(conn: Connection, table: str, saved: Definitions, *, partitioned: bool) -> None:
    for name, definition in saved.foreign:
        if partitioned and name == PARENT_KEY:
            continue  # each month's attempts refer to that month's requests instead
        conn.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"))
    for _, definition in saved.indexes:
        conn.execute(text(definition))


def _create_like(
    conn: Connection, table: str, source: str, saved: Definitions, partition_by: str | None
) -> None:
    """``table`` with ``source``'s columns, defaults, checks and (already) primary key."""
    tail = f" PARTITION BY RANGE ({partition_by})" if partition_by else ""
    conn.execute(
        text(
            f"CREATE TABLE {table} (LIKE {source} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            f"INCLUDING STORAGE){tail}"
        )
    )
    name, definition = saved.primary
    conn.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"))


def _copy(conn: Connection, table: str, source: str) -> None:
    columns = partitions.column_list(conn, table)
    conn.execute(text(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {source}"))  # noqa: S608 - our names


def data_months(conn: Connection, table: str, until: datetime) -> list[datetime]:
    """The months of the ULID ids in ``table`` (one index probe per month with rows)."""
    found: list[datetime] = []
    low, high = partitions.bound(FIRST_MONTH), partitions.bound(until)
    query = text(
        f"SELECT min(id) FROM {table} WHERE id >= :low AND id < :high AND id ~ :pattern"  # noqa: S608 - our names
    )
    while True:
        first = conn.execute(
            query, {"low": low, "high": high, "pattern": partitions.ULID_SQL}
        ).scalar()
        month = None if first is None else partitions.id_month(str(first))
        if month is None:
            return found
        found.append(month)
        low = partitions.bound(partitions.add_months(month, 1))


def convert(conn: Connection, now: datetime) -> None:
    """Partition ``requests`` and ``attempts`` by month (PostgreSQL; idempotent)."""
    if conn.dialect.name != "postgresql" or partitions.is_partitioned(conn):
        return
    saved = {t: definitions(conn, t) for t in TABLES}
    conn.execute(text(f"ALTER TABLE attempts DROP CONSTRAINT {PARENT_KEY}"))
    for table in TABLES:
        _set_aside(conn, table, saved[table], "unpartitioned")
        _create_like(conn, table, f"{table}_unpartitioned", saved[table], KEYS[table])
    partitions.create_default(conn)
    ahead = partitions.months_ahead(now)
    until = partitions.add_months(ahead[-1], 1)
    for month in sorted({*data_months(conn, "requests_unpartitioned", until), *ahead}):
        partitions.create_month(conn, month)
    for table in TABLES:
        _copy(conn, table, f"{table}_unpartitioned")
        _put_back(conn, table, saved[table], partitioned=True)
    conn.execute(text("DROP TABLE attempts_unpartitioned, requests_unpartitioned"))


def revert(conn: Connection) -> None:
    """Plain ``requests`` and ``attempts`` again (PostgreSQL; idempotent)."""
    if not partitions.is_partitioned(conn):
        return
    for month in partitions.detached(conn):  # a retention cut short: its rows stay
        month_cut.cut_month(conn, month, None)
    month_cut.drop_old_pairs(conn)
    saved = {t: definitions(conn, t) for t in TABLES}
    for table in TABLES:
        _set_aside(conn, table, saved[table], "partitioned")
        _create_like(conn, table, f"{table}_partitioned", saved[table], None)
        _copy(conn, table, f"{table}_partitioned")
        _put_back(conn, table, saved[table], partitioned=False)
    conn.execute(text(f"ALTER TABLE attempts ADD CONSTRAINT {PARENT_KEY} {PARENT_KEY_DEF}"))
    conn.execute(text("DROP TABLE attempts_partitioned, requests_partitioned"))
    month_stage.drop_leftovers(conn)  # a cut month's log, a stopped stage's tables
