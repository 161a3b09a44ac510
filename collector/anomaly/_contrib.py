"""What is behind a window of unusual spend: its costliest requests and users.

Read from ``requests`` (only for members that are unusual, so a few small queries), over
its (project | key | model, started_at) indexes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Connection, func, or_, select
from sqlalchemy import true as sql_true

from collector.anomaly._spend import Split
from collector.budgets import Scope, ScopeKind
from collector.db import ApiKey, Project, Request


@dataclass(frozen=True, slots=True)
class TopRequest:
    id: str
    started_at: datetime
    cost_usd: Decimal
    model: str | None
    user: str | None


@dataclass(frozen=True, slots=True)
class TopUser:
    user: str  # '' for requests without an end user
    cost_usd: Decimal
    requests: int


@dataclass(frozen=True, slots=True)
class Contributors:
    requests: tuple[TopRequest, ...]
    users: tuple[TopUser, ...]


def _by_name(scope: Scope) -> ColumnElement[bool]:
    """Requests of a rule's scope, which names projects and keys."""
    value = scope.value or ""
    if scope.kind is ScopeKind.PROJECT:
        return (
            Request.project_id == select(Project.id).where(Project.name == value).scalar_subquery()
        )
    if scope.kind is ScopeKind.KEY:
        return Request.api_key_id.in_(select(ApiKey.id).where(ApiKey.prefix == value))
    return _by_value(scope.kind, value)


def _by_value(kind: ScopeKind, value: str) -> ColumnElement[bool]:
    """Requests of one member as the rollups key it (projects and keys by id)."""
    if kind is ScopeKind.PROJECT:
        return Request.project_id == int(value)
    if kind is ScopeKind.KEY:
        return Request.api_key_id == int(value)
    if kind is ScopeKind.USER:
        return Request.end_user == value
    if kind is ScopeKind.MODEL:
        served = Request.model_served
        return or_(served == value, served.like(f"{value}-____-__-__"))
    if kind is ScopeKind.TAG:
        key, _, val = value.partition("=")
        matched: ColumnElement[bool] = Request.tags[key].as_string() == val
        return matched
    return sql_true()


def top_contributors(
    conn: Connection, scope: Scope, split: Split | None, member: str,
    start: datetime, end: datetime, limit: int,
) -> Contributors:  # fmt: skip
    """The ``limit`` costliest requests and users of one member in [start, end)."""
    where = [_by_name(scope), Request.started_at >= start, Request.started_at < end]
    if split is not None:
        where.append(_by_value(split.kind, member))
    priced = [*where, Request.cost_usd.is_not(None)]
    requests = conn.execute(
        select(Request.id, Request.started_at, Request.cost_usd, Request.model_served,
               Request.end_user)
        .where(*priced).order_by(Request.cost_usd.desc(), Request.id).limit(limit)
    ).all()  # fmt: skip
    user = func.coalesce(Request.end_user, "")
    total = func.sum(Request.cost_usd)
    users = conn.execute(
        select(user, total, func.count())
        .where(*priced).group_by(user).order_by(total.desc(), user).limit(limit)
    ).all()  # fmt: skip
    return Contributors(
        requests=tuple(TopRequest(*row) for row in requests),
        users=tuple(TopUser(str(u), Decimal(c), int(n)) for u, c, n in users),
    )
