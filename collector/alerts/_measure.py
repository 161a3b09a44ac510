"""Measurements for alert rules, read from the database (the shell around ``_rules``).

Traffic windows are short (5 minutes to hours), finer than the hourly rollups, so they are
counted from ``requests`` over its (outcome|project|key, started_at) indexes.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, Engine, and_, func, or_, select, text, true

from collector.alerts._anomaly_rule import measure_anomalies
from collector.alerts._common import parse_duration
from collector.alerts._exhaustion import spend_rates
from collector.alerts._params import windows_needed
from collector.alerts._types import Measurements, Rule, RuleKind, Traffic
from collector.budgets import BudgetSpec, ScopeKind, budget_statuses
from collector.db import ApiKey, Attempt, Project, Request
from collector.db.models import REFUSED_TRIES
from collector.pricing import DEFERRED_NOTES
from collector.usage import ASSUMED_NOTE, CACHE_WRITE_NOTE, CostSource, Outcome

_BUDGET_KINDS = (RuleKind.BUDGET_THRESHOLD, RuleKind.FORECAST_OVERRUN, RuleKind.BUDGET_EXHAUSTION)


def _scope_filter(rule: Rule) -> ColumnElement[bool]:
    value = rule.scope.value or ""
    kind = rule.scope.kind
    if kind is ScopeKind.PROJECT:
        return (
            Request.project_id == select(Project.id).where(Project.name == value).scalar_subquery()
        )
    if kind is ScopeKind.KEY:
        return Request.api_key_id.in_(select(ApiKey.id).where(ApiKey.prefix == value))
    if kind is ScopeKind.USER:
        return Request.end_user == value
    if kind is ScopeKind.MODEL:
        return or_(Request.model_served == value, Request.model_served.like(f"{value}-____-__-__"))
    return true()


def _p95(conn: Connection, where: list[ColumnElement[bool]]) -> float | None:
    """Nearest-rank p95 of successful requests' duration (exact, two indexed queries)."""
    ok = [*where, Request.outcome == Outcome.SUCCESS.value]
    n = conn.execute(select(func.count()).select_from(Request).where(*ok)).scalar() or 0
    if n == 0:
        return None
    rank = math.ceil(0.95 * n)
    stmt = select(Request.duration_ms).where(*ok).order_by(Request.duration_ms).offset(rank - 1)
    return float(conn.execute(stmt.limit(1)).scalar_one())


def traffic(conn: Connection, rule: Rule, window: timedelta, now: datetime) -> Traffic:
    where = [_scope_filter(rule), Request.started_at >= now - window, Request.started_at < now]
    outcomes = conn.execute(
        select(Request.outcome, func.count()).where(*where).group_by(Request.outcome)
    ).all()
    model = func.coalesce(Request.model_served, Request.model_requested, "")
    unpriced = conn.execute(
        select(model, func.count()).where(*where, _unpriced_or_assumed()).group_by(model)
    ).all()
    p95 = _p95(conn, where) if rule.kind is RuleKind.LATENCY_P95 else None
    return Traffic(
        by_outcome={o: int(n) for o, n in outcomes},
        p95_ms=p95,
        unpriced_by_model={str(m): int(n) for m, n in unpriced},
    )


def _unpriced_or_assumed() -> ColumnElement[bool]:
    """Unpriced rows, and rows priced only by assuming a price (an unlisted dated snapshot,
    or cache writes billed at the input rate for want of a cache-write rate). A row whose
    spend another row records (a background response started or read: ``DEFERRED_NOTES``)
    is no unknown spend."""
    assumed = and_(
        Request.cost_source == CostSource.ESTIMATED.value,
        or_(
            Request.cost_note.startswith(ASSUMED_NOTE, autoescape=True),
            Request.cost_note == CACHE_WRITE_NOTE,
        ),
    )
    unpriced = and_(
        Request.cost_source == CostSource.UNPRICED.value,
        or_(Request.cost_note.is_(None), Request.cost_note.not_in(sorted(DEFERRED_NOTES))),
    )
    return or_(unpriced, assumed)


def refused_keys(engine: Engine, window: timedelta, now: datetime) -> dict[tuple[str, str], int]:
    """Tries refused with 401/403 per (upstream, key's last four) in the window (from the
    partial index of refused tries alone)."""
    upstream = func.coalesce(Attempt.upstream, "default")
    query = (
        select(upstream, Attempt.upstream_key_last4, func.count())
        .where(text(REFUSED_TRIES), Attempt.upstream_key_last4.is_not(None))  # the index's own
        .where(Attempt.started_at >= now - window, Attempt.started_at < now)
        .group_by(upstream, Attempt.upstream_key_last4)
    )
    with engine.connect() as conn:
        return {(str(u), str(k)): int(n) for u, k, n in conn.execute(query)}


def _slo_target(conn: Connection, rule: Rule) -> str | None:
    if rule.scope.kind is not ScopeKind.PROJECT:
        return None
    target = conn.execute(
        select(Project.slo_target).where(Project.name == rule.scope.value)
    ).scalar()
    return None if target is None else str(target)


def measure(
    engine: Engine, rule: Rule, budgets: list[BudgetSpec], now: datetime, tz: ZoneInfo
) -> Measurements:
    """Everything ``rule`` needs at ``now``."""
    if rule.kind is RuleKind.SPEND_ANOMALY:
        return measure_anomalies(engine, rule, now)
    if rule.kind is RuleKind.UPSTREAM_KEY_REVOKED:
        return Measurements(
            refused_keys=refused_keys(engine, parse_duration(rule.params["window"]), now)
        )
    if rule.kind in _BUDGET_KINDS:
        wanted = rule.params.get("budget")
        chosen = [b for b in budgets if wanted in (None, b.name)]
        if wanted is not None and not chosen:
            raise LookupError(f"rule {rule.name!r} watches budget {wanted!r}, which does not exist")
        rates = {}
        if rule.kind is RuleKind.BUDGET_EXHAUSTION:
            rates = spend_rates(engine, chosen, rule.params["rate_window"], now)
        return Measurements(
            budgets={s.budget.name: s for s in budget_statuses(engine, now, tz, chosen)},
            rates=rates,
        )
    with engine.connect() as conn:
        windows = {w: traffic(conn, rule, w, now) for w in windows_needed(rule.kind, rule.params)}
        return Measurements(traffic=windows, slo_target=_slo_target(conn, rule))
