"""Reading and writing ``batch_jobs`` (synchronous; the gateway calls these in a thread).

A lease is one conditional UPDATE (``lease_owner``/``lease_until``), atomic on SQLite and
PostgreSQL alike: a job is worked on by the process whose UPDATE matched, and by another
only after the lease ran out (a process that died mid-work).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from collector.db import BatchJob, session_scope

TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
OPEN_STATUSES = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
BATCH, RESPONSE = "batch", "response"  # ``batch_jobs.kind``: a Batch API job, a background response
# A background response has ended once it is one of these (``Response.status``).
RESPONSE_TERMINAL = frozenset({"completed", "failed", "cancelled", "incomplete"})
RESPONSE_OPEN = frozenset({"queued", "in_progress"})
# A response whose end can no longer be read: deleted through the gateway, or answering 404.
DELETED, NOT_FOUND = "deleted", "not_found"


@dataclass(frozen=True, slots=True)
class JobRef:
    """What the poller needs of a job: where it runs, and whom its lines are attributed to."""

    id: str
    upstream: str | None
    endpoint: str
    created_at: datetime
    status: str
    project_id: int | None
    api_key_id: int | None
    end_user: str | None
    tags: Mapping[str, str]
    kind: str = BATCH
    model: str | None = None  # the model asked for (a response: priced by it if needed)
    request_id: str | None = None  # a response: the request row that created it
    updated_at: datetime | None = None  # last read from upstream (or registered)
    misses: int = 0  # a response: reads upstream answered 404, in a row


def _ref(row: BatchJob) -> JobRef:
    return JobRef(
        row.id, row.upstream, row.endpoint, row.created_at, row.status, row.project_id,
        row.api_key_id, row.end_user, dict(row.tags or {}), row.kind or BATCH, row.model,
        row.request_id, row.updated_at, row.request_failed if row.kind == RESPONSE else 0,
    )  # fmt: skip


def _counts(wire: Mapping[str, Any]) -> tuple[int, int, int]:
    """(total, completed, failed) of upstream's ``request_counts`` (0 when absent)."""
    counts = wire.get("request_counts")
    found = counts if isinstance(counts, dict) else {}

    def count(key: str) -> int:
        value = found.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    return count("total"), count("completed"), count("failed")


def _text(wire: Mapping[str, Any], key: str, size: int) -> str | None:
    value = wire.get(key)
    return value[:size] if isinstance(value, str) and value else None


def register(
    engine: Engine,
    wire: Mapping[str, Any],
    *,
    upstream: str | None,
    project_id: int | None,
    api_key_id: int | None,
    end_user: str | None,
    tags: Mapping[str, str],
    now: datetime,
) -> bool:
    """Store a job upstream just created (its ``Batch`` object); False if it was known."""
    batch_id = _text(wire, "id", 64)
    if batch_id is None:
        return False
    total, completed, failed = _counts(wire)
    row = BatchJob(
        id=batch_id, upstream=upstream, endpoint=_text(wire, "endpoint", 100) or "",
        model=_text(wire, "model", 200), input_file_id=_text(wire, "input_file_id", 200),
        output_file_id=_text(wire, "output_file_id", 200),
        error_file_id=_text(wire, "error_file_id", 200),
        status=_text(wire, "status", 20) or "validating", request_total=total,
        request_completed=completed, request_failed=failed, project_id=project_id,
        api_key_id=api_key_id, end_user=end_user, tags=dict(tags), created_at=now,
        updated_at=now, lines_recorded=0,
    )  # fmt: skip
    return add_once(engine, row)


def register_response(
    engine: Engine,
    wire: Mapping[str, Any],
    *,
    request_id: str,
    upstream: str | None,
    project_id: int | None,
    api_key_id: int | None,
    end_user: str | None,
    tags: Mapping[str, str],
    now: datetime,
) -> bool:
    """Store a background response upstream just accepted (its ``Response`` object, queued or
    in progress), to be followed until it ends; False if it was known."""
    response_id = _text(wire, "id", 64)
    if response_id is None:
        return False
    row = BatchJob(
        id=response_id, kind=RESPONSE, upstream=upstream, endpoint="/v1/responses",
        model=_text(wire, "model", 200), status=_text(wire, "status", 20) or "queued",
        request_total=1, request_completed=0, request_failed=0, project_id=project_id,
        api_key_id=api_key_id, end_user=end_user, tags=dict(tags), created_at=now,
        updated_at=now, lines_recorded=0, request_id=request_id[:32],
    )  # fmt: skip
    return add_once(engine, row)


def add_once(engine: Engine, row: object) -> bool:
    """Insert ``row``; False when a row with its key is there already (registering is
    idempotent: a re-poll, a restart or a second process may register the same thing)."""
    try:
        with session_scope(engine) as session:
            session.add(row)
    except IntegrityError:
        return False
    return True


def owner_of(engine: Engine, batch_id: str) -> int | None:
    """The project id of a job; None when the gateway never relayed its creation."""
    with session_scope(engine) as session:
        return session.scalar(select(BatchJob.project_id).where(BatchJob.id == batch_id))


def owned_ids(engine: Engine, project_id: int, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` are jobs of ``project_id``."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return set()
    with session_scope(engine) as session:
        query = select(BatchJob.id).where(
            BatchJob.id.in_(wanted), BatchJob.project_id == project_id
        )
        return set(session.scalars(query))


def claim_open(
    engine: Engine, owner: str, now: datetime, lease_s: float, limit: int = 50
) -> list[JobRef]:
    """Lease up to ``limit`` jobs not yet recorded whose lease is free (or ours)."""
    until = now + timedelta(seconds=lease_s)
    free = or_(
        BatchJob.lease_until.is_(None), BatchJob.lease_until < now, BatchJob.lease_owner == owner
    )
    with session_scope(engine) as session:
        query = select(BatchJob.id).where(BatchJob.recorded_at.is_(None), free)
        candidates = list(session.scalars(query.order_by(BatchJob.created_at).limit(limit)))
    claimed: list[JobRef] = []
    for batch_id in candidates:
        with engine.begin() as conn:
            taken = conn.execute(
                update(BatchJob)
                .where(and_(BatchJob.id == batch_id, BatchJob.recorded_at.is_(None), free))
                .values(lease_owner=owner, lease_until=until)
            ).rowcount
        if taken == 1:
            with session_scope(engine) as session:
                row = session.get(BatchJob, batch_id)
                if row is not None:
                    claimed.append(_ref(row))
    return claimed


def update_status(
    engine: Engine, batch_id: str, owner: str, wire: Mapping[str, Any], now: datetime
) -> str:
    """Copy upstream's view of the job (status, files, counts); returns the status."""
    status = _text(wire, "status", 20) or "validating"
    total, completed, failed = _counts(wire)
    values: dict[str, Any] = {
        "status": status, "updated_at": now,
        "output_file_id": _text(wire, "output_file_id", 200),
        "error_file_id": _text(wire, "error_file_id", 200),
    }  # fmt: skip
    if wire.get("object") != "response":  # a background response has no counts: keep its 1
        values |= {"request_total": total, "request_completed": completed,
                   "request_failed": failed}  # fmt: skip
    else:  # read: its run of 404s (``request_failed``, see ``back_off``) is over
        values["request_failed"] = 0
    if status in TERMINAL_STATUSES or status in RESPONSE_TERMINAL:
        values["completed_at"] = ended_at(wire, status) or now
    with session_scope(engine) as session:
        session.execute(
            update(BatchJob)
            .where(BatchJob.id == batch_id, BatchJob.lease_owner == owner)
            .values(**values)
        )
    return status


def ended_at(wire: Mapping[str, Any], status: str) -> datetime | None:
    """When upstream says the job reached ``status`` (its ``<status>_at`` stamp)."""
    stamp = wire.get(f"{status}_at")
    if isinstance(stamp, int) and not isinstance(stamp, bool) and stamp > 0:
        return datetime.fromtimestamp(stamp, UTC)
    return None


def mark_recorded(
    engine: Engine, batch_id: str, owner: str, lines: int, model: str | None, now: datetime
) -> bool:
    """Every line was handed to the recorder: the job is done (and its lease let go)."""
    values: dict[str, Any] = {
        "lines_recorded": lines, "recorded_at": now, "updated_at": now,
        "lease_owner": None, "lease_until": None,
    }  # fmt: skip
    if model is not None:
        values["model"] = model[:200]
    with engine.begin() as conn:
        done = conn.execute(
            update(BatchJob)
            .where(BatchJob.id == batch_id, BatchJob.lease_owner == owner)
            .values(**values)
        ).rowcount
    return done == 1


def release(engine: Engine, owner: str, batch_id: str | None = None) -> None:
    """Let go of one lease (or, without ``batch_id``, all of ``owner``'s), e.g. on shutdown.
    The rows are locked in id order first, as a hard-budget settle locks jobs' rows, so the
    two never wait on each other in a cycle."""
    query = update(BatchJob).where(BatchJob.lease_owner == owner)
    if batch_id is not None:
        query = query.where(BatchJob.id == batch_id)
    with session_scope(engine) as session:
        if batch_id is None:
            held = select(BatchJob.id).where(BatchJob.lease_owner == owner)
            session.execute(held.order_by(BatchJob.id).with_for_update())
        session.execute(query.values(lease_owner=None, lease_until=None))


def response_job(engine: Engine, response_id: str) -> JobRef | None:
    """A background response not recorded yet (None: unknown here, or recorded)."""
    with session_scope(engine) as session:
        row = session.get(BatchJob, response_id)
        if row is None or row.kind != RESPONSE or row.recorded_at is not None:
            return None
        return _ref(row)


def close_response(
    engine: Engine, response_id: str, model: str | None, now: datetime, status: str | None = None
) -> bool:
    """A response's one row was handed to the recorder by whoever saw it end (a stream, a
    read, the poller): it is done, whoever holds its lease. False if it was done already."""
    values: dict[str, Any] = {"lines_recorded": 1, "recorded_at": now, "updated_at": now}
    if model is not None:
        values["model"] = model[:200]
    if status is not None:
        values |= {"status": status, "completed_at": now}
    with engine.begin() as conn:
        done = conn.execute(
            update(BatchJob)
            .where(BatchJob.id == response_id, BatchJob.recorded_at.is_(None))
            .values(**values)
        ).rowcount
    return done == 1


def back_off(
    engine: Engine, batch_id: str, owner: str, until: datetime, *, missing: bool = False
) -> None:
    """Upstream could not be read about a job: nobody asks again before ``until``. A
    response answered 404 (``missing``) counts one more miss in a row (``request_failed``,
    which a response has no other use for)."""
    values: dict[str, Any] = {"lease_owner": None, "lease_until": until}
    if missing:
        values["request_failed"] = BatchJob.request_failed + 1
    with session_scope(engine) as session:
        session.execute(
            update(BatchJob)
            .where(BatchJob.id == batch_id, BatchJob.lease_owner == owner)
            .values(**values)
        )


def mark_deleted(engine: Engine, response_id: str, now: datetime) -> bool:
    """A background response deleted through the gateway before it was recorded: the poller
    stops reading it (``DELETED``). False when it is unknown or recorded."""
    with engine.begin() as conn:
        done = conn.execute(
            update(BatchJob)
            .where(
                BatchJob.id == response_id,
                BatchJob.kind == RESPONSE,
                BatchJob.recorded_at.is_(None),
            )
            .values(status=DELETED, updated_at=now)
        ).rowcount
    return done == 1
