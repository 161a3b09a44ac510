"""Recent requests with their attempts, for engineers debugging failures (``spendscope logs``).

Request ids are ULIDs, so ``id`` order is start-time order (to the millisecond) and a row's id
bounds its start time: ``id_floor(t)`` is the smallest id a request started at ``t`` can have.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Select, or_, select
from sqlalchemy.orm import Session

from collector.db.models import ApiKey, Attempt, Project, Request
from collector.ulid import ulid
from collector.usage import ANSWERED_OUTCOMES

_CHUNK = 500  # ids per IN (...) query


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One upstream try, as stored."""

    attempt_no: int
    started_at: datetime
    duration_ms: float
    model: str | None
    upstream: str | None
    http_status: int | None
    error_type: str | None
    error_message: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal | None
    provider: str


@dataclass(frozen=True, slots=True)
class RequestWithAttempts:
    """One logical request with its project name, key prefix and every attempt, in order."""

    id: str
    started_at: datetime
    duration_ms: float
    ttft_ms: float | None
    endpoint: str
    project: str | None
    key_prefix: str | None
    model_requested: str | None
    model_served: str | None
    stream: bool
    end_user: str | None
    tags: dict[str, Any]
    metadata: dict[str, Any]
    http_status: int | None
    outcome: str
    error_type: str | None
    error_message: str | None
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cost_usd: Decimal | None
    cost_source: str
    upstream: str | None
    upstream_request_id: str | None
    provider: str
    attempts: tuple[AttemptRow, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON-safe: money as a decimal string (never float), times as ISO-8601 UTC."""
        data = {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}
        data["attempts"] = [
            {f.name: _jsonable(getattr(a, f.name)) for f in fields(a)} for a in self.attempts
        ]
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")  # plain: str() would give "2.00E-8" or "0E-10"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def id_floor(moment: datetime) -> str:
    """The smallest ULID of a request started at ``moment`` (to the millisecond)."""
    return ulid(int(moment.timestamp() * 1000), 0)


def _where(
    query: Select[Any], project: str | None, errors_only: bool, model: str | None
) -> Select[Any]:
    if project is not None:
        query = query.where(Request.project_id == select(Project.id).where(Project.name == project)
                            .scalar_subquery())  # fmt: skip
    if errors_only:
        query = query.where(Request.outcome.not_in(ANSWERED_OUTCOMES))
    if model is not None:
        query = query.where(or_(Request.model_requested == model, Request.model_served == model))
    return query


def _rows() -> Select[Any]:
    return (
        select(Request, Project.name, ApiKey.prefix)
        .outerjoin(Project, Project.id == Request.project_id)
        .outerjoin(ApiKey, ApiKey.id == Request.api_key_id)
    )


_ATTEMPT_FIELDS = tuple(f.name for f in fields(AttemptRow))
_OWN_FIELDS = {"project", "key_prefix", "metadata", "attempts"}
_REQUEST_FIELDS = tuple(f.name for f in fields(RequestWithAttempts) if f.name not in _OWN_FIELDS)


def _attempts(session: Session, ids: list[str]) -> dict[str, list[AttemptRow]]:
    by_request: dict[str, list[AttemptRow]] = {i: [] for i in ids}
    query = (
        select(Attempt)
        .where(Attempt.request_id.in_(ids))
        .order_by(Attempt.request_id, Attempt.attempt_no)
    )
    for attempt in session.scalars(query):
        row = AttemptRow(**{name: getattr(attempt, name) for name in _ATTEMPT_FIELDS})
        by_request[attempt.request_id].append(row)
    return by_request


def _assemble(
    rows: Iterable[tuple[Request, str | None, str | None]], attempts: dict[str, list[AttemptRow]]
) -> list[RequestWithAttempts]:
    out = []
    for request, project, prefix in rows:
        values = {name: getattr(request, name) for name in _REQUEST_FIELDS}
        out.append(
            RequestWithAttempts(
                **values,
                project=project,
                key_prefix=prefix,
                metadata=dict(request.metadata_ or {}),
                attempts=tuple(attempts[request.id]),
            )
        )
    return out


def recent_requests(
    engine: Engine,
    *,
    limit: int = 20,
    project: str | None = None,
    errors_only: bool = False,
    model: str | None = None,
    after_id: str | None = None,
) -> list[RequestWithAttempts]:
    """Matching requests, oldest first: the newest ``limit``, or the first ``limit`` after an id.

    ``errors_only`` keeps the unanswered (neither success nor cache_hit); ``model`` matches
    the requested or served model.
    """
    if limit < 1:
        return []
    query = _where(_rows(), project, errors_only, model)
    if after_id is None:
        query = query.order_by(Request.id.desc())
    else:
        query = query.where(Request.id > after_id).order_by(Request.id)
    with Session(engine) as session:
        rows = [(r, p, k) for r, p, k in session.execute(query.limit(limit)).tuples()]
        if after_id is None:
            rows.reverse()
        return _assemble(rows, _attempts(session, [r.id for r, _, _ in rows]))


def request_ids_after(
    engine: Engine,
    after_id: str,
    *,
    project: str | None = None,
    errors_only: bool = False,
    model: str | None = None,
) -> list[str]:
    """Ids of matching requests after ``after_id``, ascending: cheap bookkeeping for --follow."""
    query = _where(select(Request.id).where(Request.id > after_id), project, errors_only, model)
    with engine.connect() as conn:
        return list(conn.scalars(query.order_by(Request.id)))


def requests_by_id(engine: Engine, ids: Sequence[str]) -> list[RequestWithAttempts]:
    """These requests (unknown ids are skipped), in id order."""
    out: list[RequestWithAttempts] = []
    with Session(engine) as session:
        for i in range(0, len(ids), _CHUNK):
            chunk = list(ids[i : i + _CHUNK])
            query = _rows().where(Request.id.in_(chunk)).order_by(Request.id)
            rows = [(r, p, k) for r, p, k in session.execute(query).tuples()]
            out += _assemble(rows, _attempts(session, [r.id for r, _, _ in rows]))
    return out
