"""The only writer of ``requests``/``attempts`` rows and their rollups: one transaction a batch.

Idempotent on request id: ids already stored are skipped (and not rolled up twice), so a
replayed spool batch never duplicates anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Engine, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from collector.db.models import Attempt, Request, hourly_rollups, hourly_tag_rollups
from collector.errors import StorageError
from collector.recorder.events import UsageEvent
from collector.recorder.rollup import aggregate, aggregate_tags

_REQUESTS: Table = Request.__table__  # type: ignore[assignment]
_ATTEMPTS: Table = Attempt.__table__  # type: ignore[assignment]
_ID_CHUNK = 500
_METADATA_KEY = Request.__table__.c["metadata"].key  # the attribute is ``metadata_``


class PoisonBatch(StorageError):
    """The database rejected the data itself (not the connection): retrying cannot help."""


def _request_row(e: UsageEvent) -> dict[str, Any]:
    row = asdict(e)
    del row["attempts"]
    row[_METADATA_KEY] = row.pop("metadata")
    if row["error_message"]:
        row["error_message"] = row["error_message"][:1000]
    return row


def _attempt_rows(e: UsageEvent) -> list[dict[str, Any]]:
    rows = []
    for attempt in e.attempts:
        row = asdict(attempt)
        row["request_id"] = e.id
        if row["error_message"]:
            row["error_message"] = row["error_message"][:1000]
        rows.append(row)
    return rows


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


def _upsert(
    conn: Connection, table: Table, keys: Sequence[str], rows: list[dict[str, Any]]
) -> None:
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    counters = [c.name for c in table.columns if c.name not in keys]
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + stmt.excluded[name] for name in counters},
    )
    conn.execute(stmt, rows)


def _rollup(conn: Connection, fresh: Sequence[UsageEvent]) -> None:
    keys = ("hour", "project_id", "api_key_id", "end_user", "model", "outcome")
    rows = [dict(zip(keys, k, strict=True)) | v for k, v in aggregate(fresh).items()]
    _upsert(conn, hourly_rollups, keys, rows)
    tag_keys = ("hour", "tag", "project_id", "model", "outcome")
    tag_rows = [dict(zip(tag_keys, k, strict=True)) | v for k, v in aggregate_tags(fresh).items()]
    _upsert(conn, hourly_tag_rollups, tag_keys, tag_rows)


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
            conn.execute(_REQUESTS.insert(), [_request_row(e) for e in fresh])
            attempts = [row for e in fresh for row in _attempt_rows(e)]
            if attempts:
                conn.execute(_ATTEMPTS.insert(), attempts)
            _rollup(conn, fresh)
            return len(fresh)
    except (IntegrityError, DataError) as exc:
        raise PoisonBatch(f"batch of {len(events)} rejected: {exc.orig!r}"[:500]) from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"batch of {len(events)} not written: {exc.__class__.__name__}") from exc
