"""Batch API jobs with what has been recorded of them: lines, cost so far (batch rates).

A job's lines are ``requests`` rows with its ``batch_id`` (an indexed column), summed here
per job; the rest comes from ``batch_jobs``. ``cost_usd`` adds only priced lines; the lines
without a price are counted in ``unpriced_lines``, never summed as $0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Select, case, func, select

from collector.analytics._frames import frame
from collector.analytics._sql import key_labels, project_names
from collector.db.base import table_of
from collector.db.models import BatchJob, Request

BATCH_COLUMNS = (
    "id", "status", "project", "key", "end_user", "endpoint", "model", "request_total",
    "request_completed", "request_failed", "lines_recorded", "cost_usd", "unpriced_lines",
    "created_at", "completed_at", "recorded_at",
)  # fmt: skip
MAX_JOBS = 1000


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """One job as ``spendscope batches`` and the dashboard show it."""

    id: str
    status: str
    project: str | None
    key: str | None
    end_user: str | None
    endpoint: str
    model: str | None
    request_total: int
    request_completed: int
    request_failed: int
    lines_recorded: int  # rows stored for the job's lines
    cost_usd: Decimal  # the priced lines, at batch rates
    unpriced_lines: int
    created_at: datetime
    completed_at: datetime | None
    recorded_at: datetime | None
    tags: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["cost_usd"] = str(self.cost_usd)
        for name in ("created_at", "completed_at", "recorded_at"):
            out[name] = out[name].isoformat() if out[name] is not None else None
        return out


def _lines() -> Any:
    r = Request
    return (
        select(
            r.batch_id.label("batch_id"),
            func.count().label("lines"),
            func.sum(r.cost_usd).label("cost_usd"),
            func.sum(case((r.cost_source == "unpriced", 1), else_=0)).label("unpriced"),
        )
        .where(r.batch_id.is_not(None))
        .group_by(r.batch_id)
    )


def _jobs_query() -> Select[Any]:
    lines = _lines().subquery()
    jobs = table_of(BatchJob)
    return select(jobs, lines.c.lines, lines.c.cost_usd, lines.c.unpriced).outerjoin(
        lines, lines.c.batch_id == jobs.c.id
    )


def batch_jobs(
    engine: Engine, *, project_ids: Sequence[int] = (), limit: int = 100, kind: str = "batch"
) -> list[BatchSummary]:
    """The newest jobs first (at most ``limit``, 1..1000), optionally of some projects;
    ``kind`` ``response``: the background responses followed the same way instead."""
    if not 1 <= limit <= MAX_JOBS:
        raise ValueError(f"limit must be within 1..{MAX_JOBS}")
    query = _jobs_query().where(BatchJob.kind == kind)
    if project_ids:
        query = query.where(BatchJob.project_id.in_(project_ids))
    query = query.order_by(BatchJob.created_at.desc(), BatchJob.id.desc()).limit(limit)
    return _summaries(engine, query)


def batch_job(engine: Engine, batch_id: str) -> BatchSummary | None:
    """One job by its upstream id (None if the gateway never relayed it)."""
    found = _summaries(engine, _jobs_query().where(BatchJob.id == batch_id))
    return found[0] if found else None


def _summaries(engine: Engine, query: Select[Any]) -> list[BatchSummary]:
    with engine.connect() as conn:
        names, keys = project_names(conn), key_labels(conn)
        rows = list(conn.execute(query))
    out = []
    for row in rows:
        values = row._mapping
        out.append(
            BatchSummary(
                id=values["id"], status=values["status"],
                project=names.get(values["project_id"]) if values["project_id"] else None,
                key=keys.get(values["api_key_id"]) if values["api_key_id"] else None,
                end_user=values["end_user"], endpoint=values["endpoint"],
                model=values["model"], request_total=values["request_total"],
                request_completed=values["request_completed"],
                request_failed=values["request_failed"],
                lines_recorded=int(values["lines"] or 0),
                cost_usd=Decimal(values["cost_usd"] or 0),
                unpriced_lines=int(values["unpriced"] or 0),
                created_at=values["created_at"], completed_at=values["completed_at"],
                recorded_at=values["recorded_at"], tags=dict(values["tags"] or {}),
            )
        )  # fmt: skip
    return out


def batches_frame(
    engine: Engine, *, project_ids: Sequence[int] = (), limit: int = 100
) -> pd.DataFrame:
    """``batch_jobs`` as a DataFrame of ``BATCH_COLUMNS`` (cost as Decimal) for the dashboard."""
    jobs = batch_jobs(engine, project_ids=project_ids, limit=limit)
    return frame(([getattr(j, c) for c in BATCH_COLUMNS] for j in jobs), BATCH_COLUMNS)
