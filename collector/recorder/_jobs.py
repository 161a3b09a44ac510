"""Batch API jobs and uploaded files registered from the request rows that created them, in
the rows' transaction.

The gateway registers a job in ``batch_jobs`` (a file in ``gateway_files``, a background
response in ``batch_jobs`` as ``kind`` ``response``) as soon as
upstream created it; while the database is down that write fails, but the creating request's
row still reaches the database (journal, spool, replay). So the gateway also puts the job
(the file) in that row's metadata, under :data:`JOB_KEY` (:data:`FILE_KEY`), and the writer
registers it when the row is first written: a job created during an outage is followed, and
a file uploaded during one stays its project's, once the outage ends. ``ON CONFLICT DO
NOTHING`` keeps the row the gateway wrote itself; a replayed row is not fresh, so it registers
nothing twice. What the database refuses is logged and left out, never the request rows (a
savepoint holds it apart).

Only rows the gateway relayed qualify (``POST /v1/batches`` / ``POST /v1/files`` answered 2xx
by a named upstream, which reported calls never have), and the gateway drops these keys from
a client's own metadata. No SQLAlchemy here: the writer process runs this.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from collector.recorder._binds import conversion
from collector.recorder.events import UsageEvent

log = logging.getLogger(__name__)
JOB_KEY = "_spendscope_batch_job"  # request metadata: the job the request created
FILE_KEY = "_spendscope_file"  # request metadata: the file the request uploaded
CACHE_KEY = "_spendscope_cache"  # request metadata: made or answered by the semantic cache
SIMILARITY_KEY = "_spendscope_similarity"  # request metadata: a semantic hit's cosine
BACKGROUND_KEY = "_spendscope_background"  # request metadata: the background response it started
RESERVED_KEYS = frozenset(  # keys only the gateway may set
    {JOB_KEY, FILE_KEY, CACHE_KEY, SIMILARITY_KEY, BACKGROUND_KEY}
)

Convert = Callable[[Any], Any]
_JOB_SIZES = {"id": 64, "endpoint": 100, "input_file_id": 200, "status": 20}
_FILE_SIZES = {"id": 200, "purpose": 40}
_JOB_COLUMNS = (
    "id", "upstream", "endpoint", "input_file_id", "status", "request_total",
    "request_completed", "request_failed", "project_id", "api_key_id", "end_user", "tags",
    "created_at", "updated_at", "lines_recorded",
)  # fmt: skip
_FILE_COLUMNS = ("id", "project_id", "api_key_id", "purpose", "size_bytes", "created_at")
_BACKGROUND_SIZES = {"id": 64, "status": 20, "model": 200}
_BACKGROUND_COLUMNS = (*_JOB_COLUMNS, "kind", "model", "request_id")


def _note(wire: dict[str, Any], sizes: dict[str, int]) -> dict[str, Any] | None:
    note: dict[str, Any] = {}
    for key, size in sizes.items():
        value = wire.get(key)
        if isinstance(value, str) and value:
            note[key] = value[:size]
    return note if "id" in note else None


def job_note(wire: dict[str, Any]) -> dict[str, Any] | None:
    """What a request row keeps of the ``Batch`` object upstream answered (None: not a job)."""
    return _note(wire, _JOB_SIZES)


def background_note(wire: dict[str, Any]) -> dict[str, Any] | None:
    """What a request row keeps of a ``Response`` object upstream answered still running."""
    return _note(wire, _BACKGROUND_SIZES)


def file_note(wire: dict[str, Any]) -> dict[str, Any] | None:
    """What a request row keeps of the ``OpenAIFile`` upstream answered (None: not a file)."""
    note = _note(wire, _FILE_SIZES)
    size = wire.get("bytes")
    if note is not None and isinstance(size, int) and not isinstance(size, bool):
        note["bytes"] = size
    return note


def _noted(e: UsageEvent, endpoint: str, key: str) -> dict[str, Any] | None:
    """The note under ``key`` of a 2xx relayed ``endpoint`` row of a project, if any."""
    if e.endpoint != endpoint or e.upstream is None or e.http_status is None:
        return None
    if not 200 <= e.http_status < 300 or e.project_id is None:
        return None
    note = e.metadata.get(key)
    if not isinstance(note, dict) or not isinstance(note.get("id"), str):
        return None
    return note


def _statement(table: str, columns: Sequence[str], dialect: str) -> str:
    names = ", ".join(f'"{name}"' for name in columns)
    if dialect == "postgresql":
        marks = ", ".join("CAST(%s AS json)" if n == "tags" else "%s" for n in columns)
    else:
        marks = ", ".join("?" for _ in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({marks}) ON CONFLICT ("id") DO NOTHING'  # noqa: S608 - schema names


def register_jobs(conn: Any, dialect: str, fresh: Sequence[UsageEvent]) -> int:
    """Register the jobs and files the fresh rows created (in the caller's transaction);
    returns how many rows named one (registered now, or known already)."""
    jobs = [(e, n) for e in fresh if (n := _noted(e, "/v1/batches", JOB_KEY)) is not None]
    files = [(e, n) for e in fresh if (n := _noted(e, "/v1/files", FILE_KEY)) is not None]
    later = [(e, n) for e in fresh if (n := _noted(e, "/v1/responses", BACKGROUND_KEY))]
    if not jobs and not files and not later:
        return 0
    utc, json_text = conversion("utc", dialect), conversion("json", dialect)
    job_rows = [_job_row(e, note, utc, json_text) for e, note in jobs]
    file_rows = [_file_row(e, note, utc) for e, note in files]
    background_rows = [_background_row(e, note, utc, json_text) for e, note in later]
    conn.execute("SAVEPOINT gateway_notes")
    try:
        cursor = conn.cursor()
        if job_rows:
            cursor.executemany(_statement("batch_jobs", _JOB_COLUMNS, dialect), job_rows)
        if file_rows:
            cursor.executemany(_statement("gateway_files", _FILE_COLUMNS, dialect), file_rows)
        if background_rows:
            statement = _statement("batch_jobs", _BACKGROUND_COLUMNS, dialect)
            cursor.executemany(statement, background_rows)
    except Exception as exc:  # the rows matter more: they are written, these are not
        conn.execute("ROLLBACK TO SAVEPOINT gateway_notes")
        log.error("recorder: %d job(s), %d file(s), %d response(s) not registered: %r",
                  len(jobs), len(files), len(later), exc)  # fmt: skip
        return 0
    conn.execute("RELEASE SAVEPOINT gateway_notes")
    return len(job_rows) + len(file_rows) + len(background_rows)


def _job_row(
    e: UsageEvent, note: dict[str, Any], utc: Convert, json_text: Convert
) -> tuple[Any, ...]:
    at = utc(e.started_at)
    return (
        _text(note, "id", _JOB_SIZES), e.upstream[:100] if e.upstream else None,
        _text(note, "endpoint", _JOB_SIZES) or "", _text(note, "input_file_id", _JOB_SIZES),
        _text(note, "status", _JOB_SIZES) or "validating", 0, 0, 0, e.project_id, e.api_key_id,
        e.end_user, json_text(e.tags), at, at, 0,
    )  # fmt: skip


def _background_row(
    e: UsageEvent, note: dict[str, Any], utc: Convert, json_text: Convert
) -> tuple[Any, ...]:
    at = utc(e.started_at)
    return (
        _text(note, "id", _BACKGROUND_SIZES), e.upstream[:100] if e.upstream else None,
        "/v1/responses", None, _text(note, "status", _BACKGROUND_SIZES) or "queued", 1, 0, 0,
        e.project_id, e.api_key_id, e.end_user, json_text(e.tags), at, at, 0, "response",
        _text(note, "model", _BACKGROUND_SIZES), e.id[:32],
    )  # fmt: skip


def _file_row(e: UsageEvent, note: dict[str, Any], utc: Convert) -> tuple[Any, ...]:
    size = note.get("bytes")
    size = size if isinstance(size, int) and not isinstance(size, bool) else None
    return (
        _text(note, "id", _FILE_SIZES), e.project_id, e.api_key_id,
        _text(note, "purpose", _FILE_SIZES), size, utc(e.started_at),
    )  # fmt: skip


def _text(note: dict[str, Any], key: str, sizes: dict[str, int]) -> str | None:
    value = note.get(key)
    return value[: sizes[key]] if isinstance(value, str) and value else None
