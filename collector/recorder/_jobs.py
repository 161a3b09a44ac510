"""Batch API jobs registered from the request rows that created them, in the rows' transaction.

The gateway registers a job in ``batch_jobs`` as soon as upstream created it; while the
database is down that write fails, but the creating request's row still reaches the database
(journal, spool, replay). So the gateway also puts the job in that row's metadata (under
:data:`JOB_KEY`), and the writer registers it when the row is first written: a job created
during an outage is followed once the outage ends. ``ON CONFLICT DO NOTHING`` keeps the row
the gateway wrote itself; a replayed row is not fresh, so it registers nothing twice. A job
the database refuses is logged and left out, never the rows (a savepoint holds it apart).

Only rows the gateway relayed qualify (``POST /v1/batches`` answered 2xx by a named upstream,
which reported calls never have), and the gateway drops the key from a client's own metadata.
No SQLAlchemy here: the writer process runs this.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from collector.recorder._binds import conversion
from collector.recorder.events import UsageEvent

log = logging.getLogger(__name__)
JOB_KEY = "_spendscope_batch_job"  # request metadata: the job the request created
RESERVED_KEYS = frozenset({JOB_KEY})  # metadata keys only the gateway may set

_COLUMNS = (
    "id", "upstream", "endpoint", "input_file_id", "status", "request_total",
    "request_completed", "request_failed", "project_id", "api_key_id", "end_user", "tags",
    "created_at", "updated_at", "lines_recorded",
)  # fmt: skip
_SIZES = {"id": 64, "endpoint": 100, "input_file_id": 200, "status": 20}


def job_note(wire: dict[str, Any]) -> dict[str, str] | None:
    """What a request row keeps of the ``Batch`` object upstream answered (None: not a job)."""
    note = {}
    for key, size in _SIZES.items():
        value = wire.get(key)
        if isinstance(value, str) and value:
            note[key] = value[:size]
    return note if "id" in note else None


def _job(e: UsageEvent) -> dict[str, Any] | None:
    if e.endpoint != "/v1/batches" or e.upstream is None or e.http_status is None:
        return None
    if not 200 <= e.http_status < 300 or e.project_id is None:
        return None
    note = e.metadata.get(JOB_KEY)
    if not isinstance(note, dict) or not isinstance(note.get("id"), str):
        return None
    return note


def _statement(dialect: str) -> str:
    names = ", ".join(f'"{name}"' for name in _COLUMNS)
    if dialect == "postgresql":
        marks = ", ".join("CAST(%s AS json)" if n == "tags" else "%s" for n in _COLUMNS)
    else:
        marks = ", ".join("?" for _ in _COLUMNS)
    return f'INSERT INTO "batch_jobs" ({names}) VALUES ({marks}) ON CONFLICT ("id") DO NOTHING'  # noqa: S608 - schema names


def register_jobs(conn: Any, dialect: str, fresh: Sequence[UsageEvent]) -> int:
    """Register the jobs the fresh rows created (in the caller's transaction); returns how
    many rows named one (registered now, or known already)."""
    found = [(e, note) for e in fresh if (note := _job(e)) is not None]
    if not found:
        return 0
    utc, json_text = conversion("utc", dialect), conversion("json", dialect)
    rows = []
    for e, note in found:
        at = utc(e.started_at)
        rows.append((
            _text(note, "id"), e.upstream[:100] if e.upstream else None,
            _text(note, "endpoint") or "", _text(note, "input_file_id"),
            _text(note, "status") or "validating", 0, 0, 0, e.project_id, e.api_key_id,
            e.end_user, json_text(e.tags), at, at, 0,
        ))  # fmt: skip
    conn.execute("SAVEPOINT batch_jobs")
    try:
        conn.cursor().executemany(_statement(dialect), rows)
    except Exception as exc:  # the rows matter more: they are written, the jobs are not
        conn.execute("ROLLBACK TO SAVEPOINT batch_jobs")
        log.error("recorder: %d batch job(s) not registered: %r", len(rows), exc)
        return 0
    conn.execute("RELEASE SAVEPOINT batch_jobs")
    return len(rows)


def _text(note: dict[str, Any], key: str) -> str | None:
    value = note.get(key)
    return value[: _SIZES[key]] if isinstance(value, str) and value else None
