"""Reading and writing ``gateway_files``: which project owns a file (synchronous; the
gateway calls these in a thread).

A file belongs to the project that uploaded it through the gateway, and a job's output and
error files to the job's project; any other file has no owner here (a 404 to everyone).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, or_, select

from collector.batches._store import add_once
from collector.db import BatchJob, GatewayFile, session_scope


def register_file(
    engine: Engine,
    wire: Mapping[str, Any],
    *,
    project_id: int,
    api_key_id: int | None,
    now: datetime,
) -> bool:
    """Store a file upstream just took (its ``OpenAIFile`` object); False if it was known."""
    file_id = wire.get("id")
    if not isinstance(file_id, str) or not file_id or len(file_id) > 200:
        return False
    purpose, size = wire.get("purpose"), wire.get("bytes")
    row = GatewayFile(
        id=file_id, project_id=project_id, api_key_id=api_key_id,
        purpose=purpose[:40] if isinstance(purpose, str) else None,
        size_bytes=size if isinstance(size, int) and not isinstance(size, bool) else None,
        created_at=now,
    )  # fmt: skip
    return add_once(engine, row)


def file_owner(engine: Engine, file_id: str) -> int | None:
    """The project owning ``file_id``: its uploader's, or its job's for an output/error file."""
    with session_scope(engine) as session:
        owner = session.scalar(select(GatewayFile.project_id).where(GatewayFile.id == file_id))
        if owner is not None:
            return owner
        produced = or_(BatchJob.output_file_id == file_id, BatchJob.error_file_id == file_id)
        return session.scalar(select(BatchJob.project_id).where(produced).limit(1))


def owned_files(engine: Engine, project_id: int, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` are files of ``project_id`` (uploaded, or written by its jobs)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return set()
    with session_scope(engine) as session:
        uploaded = select(GatewayFile.id).where(
            GatewayFile.id.in_(wanted), GatewayFile.project_id == project_id
        )
        found = set(session.scalars(uploaded))
        jobs = select(BatchJob.output_file_id, BatchJob.error_file_id).where(
            BatchJob.project_id == project_id,
            or_(BatchJob.output_file_id.in_(wanted), BatchJob.error_file_id.in_(wanted)),
        )
        for output, error in session.execute(jobs):
            found.update(x for x in (output, error) if x in wanted)
        return found
