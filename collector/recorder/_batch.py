"""One batch in one transaction on a DBAPI connection: rows, then every rollup.

Idempotent on request id: ids already stored are skipped (and not rolled up twice), so a
replayed spool batch never duplicates anything. Which ids are stored is asked first, in one
statement: PostgreSQL COPYs the rows, which cannot skip conflicts, and on SQLite a plain
insert after the lookup is faster than ``ON CONFLICT DO NOTHING RETURNING id``.
The rollups written with the rows: hourly and daily request, project, tag, error and
batch / flex tier rollups — all from one in-memory aggregation of the fresh events — and the
Batch API jobs the fresh rows created (``_jobs``), so a job created during an outage is known.

No SQLAlchemy: ``writer.write_batch`` runs this on a pooled connection of an engine, the
writer process on its own connection (both from the same :class:`WritePlan`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

from collector.dbapi import ROLLUP_WRITERS_SHARED
from collector.errors import StorageError
from collector.recorder._bulk import BulkInsert, BulkUpsert, PoisonBatch, pg_rollup_statement
from collector.recorder._jobs import register_jobs
from collector.recorder._plan import WritePlan
from collector.recorder._values import (
    ATTEMPT_FIELDS,
    REQUEST_FIELDS,
    attempt_values,
    request_values,
)
from collector.recorder.events import AttemptEvent, UsageEvent
from collector.recorder.rollup import aggregate_all, by_day, by_project

__all__ = ["PoisonBatch", "write_events"]

_ID_CHUNK = 500


def _request_values(e: UsageEvent) -> tuple[Any, ...]:
    """A request row's values, unconverted: ``REQUEST_FIELDS`` in order, then the attempt count."""
    return (*request_values(e), len(e.attempts))


def _attempt_values(request_id: str, a: AttemptEvent) -> tuple[Any, ...]:
    """An attempt row's values, unconverted: its request's id, then ``ATTEMPT_FIELDS``."""
    return (request_id, *attempt_values(a))


@dataclass(frozen=True, slots=True)
class _Statements:
    requests: BulkInsert
    attempts: BulkInsert
    upserts: tuple[BulkUpsert, ...]  # in the plan's rollup order
    pg_rollups: str


@lru_cache(maxsize=8)
def _statements(plan: WritePlan) -> _Statements:
    """Inserts of request and attempt rows (their values from the functions above)."""
    requests = BulkInsert(
        plan.requests,
        [*REQUEST_FIELDS, "attempt_count"],
        plan.dialect,
        literal_nulls=True,
    )
    attempts = BulkInsert(
        plan.attempts,
        ["request_id", *ATTEMPT_FIELDS],
        plan.dialect,
        literal_nulls=True,
    )
    upserts = tuple(BulkUpsert(table, plan.dialect) for table in plan.rollups)
    if len(upserts) != 11:
        raise AssertionError(f"a write plan has 11 rollup tables, not {len(upserts)}")
    return _Statements(requests, attempts, upserts, pg_rollup_statement(upserts))


def write_events(conn: Any, plan: WritePlan, events: Sequence[UsageEvent]) -> int:
    """Write a batch in one transaction on DBAPI ``conn``; returns how many requests were new.

    Raises :class:`PoisonBatch` when the database (or a column's conversion) refuses the
    data, :class:`StorageError` when it cannot take it now; nothing is left half-written.
    """
    if not events:
        return 0
    dbapi = _dbapi(plan.dialect)
    try:
        statements = _statements(plan)
        if plan.dialect == "postgresql":  # before any row lock: see dbapi.ROLLUP_WRITERS_LOCK
            conn.execute(ROLLUP_WRITERS_SHARED)
        fresh = _insert_rows(conn, plan.dialect, statements, events)
        if fresh:
            _rollup(conn, plan.dialect, statements, fresh)
            register_jobs(conn, plan.dialect, fresh)
        conn.commit()
        return len(fresh)
    except BaseException as exc:
        _rollback(conn)
        if isinstance(exc, StorageError):  # already classified (raised by a COPY)
            raise
        if isinstance(exc, dbapi.IntegrityError | dbapi.DataError):
            raise PoisonBatch(f"batch of {len(events)} rejected: {exc!r}"[:500]) from exc
        if isinstance(exc, ValueError | TypeError | ArithmeticError):  # a value no column takes
            raise PoisonBatch(f"batch of {len(events)} rejected: {exc!r}"[:500]) from exc
        if isinstance(exc, dbapi.Error):
            raise StorageError(f"batch of {len(events)} not written: {exc!r}"[:500]) from exc
        raise


def _dbapi(dialect: str) -> ModuleType:
    if dialect == "sqlite":
        return sqlite3
    import psycopg  # only PostgreSQL pays for the import

    return psycopg


def _rollback(conn: Any) -> None:
    with contextlib.suppress(Exception):  # a broken connection: its transaction went with it
        conn.rollback()


def _insert_rows(
    conn: Any, dialect: str, statements: _Statements, events: Sequence[UsageEvent]
) -> list[UsageEvent]:
    """Insert the events not stored yet (requests, then attempts); returns those, in order."""
    requests, attempts = statements.requests, statements.attempts
    fresh = _not_stored(events, _existing_ids(conn, dialect, [e.id for e in events]))
    if not fresh:
        return fresh
    attempt_rows = [_attempt_values(e.id, a) for e in fresh for a in e.attempts]
    if dialect == "postgresql":
        requests.copy(conn, map(_request_values, fresh))
        attempts.copy(conn, attempt_rows)
    else:
        requests.insert(conn, map(_request_values, fresh), len(fresh))
        attempts.insert(conn, attempt_rows, len(attempt_rows))
    return fresh


def _not_stored(events: Sequence[UsageEvent], stored: set[str]) -> list[UsageEvent]:
    """The first event of each id not in ``stored``, in batch order."""
    out: list[UsageEvent] = []
    for e in events:
        if e.id not in stored:
            stored.add(e.id)
            out.append(e)
    return out


def _existing_ids(conn: Any, dialect: str, ids: list[str]) -> set[str]:
    """Which ids are stored already (plain SQL: building a 500-value IN cost more than it).

    PostgreSQL gets all ids as one array parameter (one statement, one plan).
    """
    if dialect == "postgresql":
        sql = 'SELECT id FROM "requests" WHERE id = ANY(%s::varchar[])'
        return {row[0] for row in conn.execute(sql, (ids,)).fetchall()}
    found: set[str] = set()
    for i in range(0, len(ids), _ID_CHUNK):
        chunk = tuple(ids[i : i + _ID_CHUNK])
        sql = f'SELECT id FROM "requests" WHERE id IN ({", ".join(["?"] * len(chunk))})'  # noqa: S608 - placeholders only
        found.update(row[0] for row in conn.execute(sql, chunk).fetchall())
    return found


def _rollup(conn: Any, dialect: str, statements: _Statements, fresh: Sequence[UsageEvent]) -> None:
    """All rollups of the fresh events; the daily ones are the hourly increments by day, the
    project ones the request increments summed over keys and users, the upstream ones (daily
    only) the hourly upstream increments by day."""
    sums = aggregate_all(fresh)
    projects = by_project(sums.rollups)
    groups: tuple[dict[Any, dict[str, Any]], ...] = (
        sums.rollups,
        by_day(sums.rollups),
        sums.tags,
        by_day(sums.tags),
        sums.errors,
        by_day(sums.errors),
        sums.tiers,
        by_day(sums.tiers),
        projects,
        by_day(projects),
        by_day(sums.upstreams),
    )
    if dialect == "postgresql":
        payloads = tuple(u.payload(g) for u, g in zip(statements.upserts, groups, strict=True))
        conn.execute(statements.pg_rollups, payloads)
        return
    for upsert, group in zip(statements.upserts, groups, strict=True):
        upsert.write(conn, group)
