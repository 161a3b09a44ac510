"""Recorded spend of a scope over a window, from the hourly rollups (one SQL sum).

Rollups are hourly, so a window is widened to whole UTC hours: exact for timezones with
whole-hour offsets; for half-hour offsets (e.g. Asia/Kolkata) the first partial hour counts
in full, which over-counts a little and never under-counts.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Connection, Table, false, func, or_, select, true

from collector.budgets._period import Window
from collector.budgets._scope import Scope, ScopeKind
from collector.db.models import ApiKey, Project, hourly_rollups, hourly_tag_rollups

_ZERO = Decimal(0)


def _hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def rollup_scope_filter(scope: Scope, table: Table = hourly_rollups) -> ColumnElement[bool]:
    """Rows of ``scope`` in a rollup table (projects by name, keys by prefix, models with their
    dated snapshots, tags as ``key=value``); false where the table lacks the scope's column."""
    c = table.c
    value = scope.value or ""
    if scope.kind is ScopeKind.GLOBAL:
        return true()
    if scope.kind is ScopeKind.TAG:
        return c.tag == value if "tag" in c else false()
    column = {ScopeKind.PROJECT: "project_id", ScopeKind.KEY: "api_key_id",
              ScopeKind.USER: "end_user", ScopeKind.MODEL: "model"}[scope.kind]  # fmt: skip
    if column not in c:
        return false()
    if scope.kind is ScopeKind.PROJECT:
        ids = select(Project.id).where(Project.name == value).scalar_subquery()
        return c.project_id == ids
    if scope.kind is ScopeKind.KEY:
        return c.api_key_id.in_(select(ApiKey.id).where(ApiKey.prefix == value))
    if scope.kind is ScopeKind.USER:
        return c.end_user == value
    return or_(c.model == value, c.model.like(f"{value}-____-__-__"))


def recorded_spend(conn: Connection, scope: Scope, window: Window) -> Decimal:
    """Sum of recorded cost in ``scope`` with request start inside ``window``."""
    start, end = _hour_floor(window.start), window.end
    if scope.kind is ScopeKind.TAG:
        key, val = scope.tag
        t = hourly_tag_rollups.c
        stmt = select(func.sum(t.cost_usd)).where(
            t.tag == f"{key}={val}", t.hour >= start, t.hour < end
        )
    else:
        r = hourly_rollups.c
        stmt = select(func.sum(r.cost_usd)).where(
            rollup_scope_filter(scope), r.hour >= start, r.hour < end
        )
    total = conn.execute(stmt).scalar()
    return Decimal(total) if total is not None else _ZERO
