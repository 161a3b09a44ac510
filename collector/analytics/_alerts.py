"""Alert history for the dashboard: ``alert_events`` newest first, paged, with their rules.

Reads ``alert_events`` and ``alert_rules`` itself, in the order ``spendscope alerts list``
shows them, and describes each event from its rule, its dedup key and its payload. The
alerts package imports this query layer, so nothing here imports ``collector.alerts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from collector.analytics._frames import frame
from collector.analytics._sql import project_names
from collector.db import AlertEvent, AlertRule, Budget, session_scope

if TYPE_CHECKING:
    from collector.budgets import Scope

ALERT_COLUMNS = (
    "id", "fired_at", "state", "resolved_at", "rule", "kind", "scope", "period", "threshold",
    "message", "delivery",
)  # fmt: skip
_RESOLVED = "|resolved@"
_BUDGET_KINDS = ("budget_threshold", "forecast_overrun", "budget_exhaustion")


@dataclass(frozen=True, slots=True)
class _RuleRow:
    """What the history shows of a rule: its name, kind, scope and parameters."""

    name: str
    kind: str
    scope: Scope
    params: Mapping[str, Any]


def _page(engine: Engine, limit: int, offset: int) -> tuple[list[AlertEvent], dict[int, _RuleRow]]:
    """One page of events newest first (as ``spendscope alerts list``) and every rule by id."""
    with session_scope(engine) as session:
        stmt = select(AlertEvent).order_by(AlertEvent.fired_at.desc(), AlertEvent.id.desc())
        events = list(session.scalars(stmt.limit(limit).offset(offset)))
        rows = session.scalars(select(AlertRule).order_by(AlertRule.id))
        rules = {row.id: _rule_row(row) for row in rows}
    return events, rules


def _rule_row(row: AlertRule) -> _RuleRow:
    from collector.budgets import Scope, ScopeKind

    scope = Scope(ScopeKind(row.scope_kind or "global"), row.scope_value)
    return _RuleRow(row.name, row.kind, scope, dict(row.params))


def alert_history(
    engine: Engine, *, page: int = 1, page_size: int = 25
) -> tuple[pd.DataFrame, int]:
    """One page of alert events, newest first, and how many there are in all.

    Columns: ``id``, ``fired_at`` / ``resolved_at`` (UTC; None while firing), ``state``
    (firing / resolved), ``rule`` / ``kind`` / ``scope`` of the rule (for ``spend_anomaly``
    the member it fired for, e.g. one key of a rule per key), ``period`` (the budget
    period or the rule's window), ``threshold``, ``message``, ``delivery`` (per channel and
    phase: ``ok`` or ``failed: …``; empty when nothing was sent).
    """
    if page < 1 or not 1 <= page_size <= 1000:
        raise ValueError("page must be >= 1 and page_size within 1..1000")
    events, rules = _page(engine, limit=page_size, offset=(page - 1) * page_size)
    with engine.connect() as conn:
        total = int(conn.scalar(select(func.count()).select_from(AlertEvent)) or 0)
        projects = project_names(conn)
        budgets = _budget_scopes(conn)
    rows = []
    for e in events:
        rule = rules.get(e.rule_id)
        kind = rule.kind if rule else str(e.payload.get("kind", ""))
        period, threshold = describe(kind, e.dedup_key)
        scope = _event_scope(kind, e, budgets) or (rule.scope if rule else None)
        shown = scope_label(scope, projects) if scope else ""
        if kind == "unpriced_traffic":  # the model it fired for is part of what it watched
            model = e.payload.get("model") or threshold
            shown, threshold = f"{shown} · model: {model}", _unpriced_threshold(rule)
        rows.append((
            e.id, e.fired_at, e.state, e.resolved_at, rule.name if rule else f"#{e.rule_id}",
            kind, shown, period, threshold, e.message, delivery_text(e.deliveries),
        ))  # fmt: skip
    df = frame(rows, ALERT_COLUMNS)
    for column in ("fired_at", "resolved_at"):
        df[column] = pd.to_datetime(df[column], utc=True)
    return df, total


def recording_issues(engine: Engine) -> list[str]:
    """What firing ``recorder_health`` alerts say (the record lags or lost something), oldest
    first: the dashboard's banner. Empty while every gateway's recording works."""
    query = (
        select(AlertEvent.message)
        .join(AlertRule, AlertRule.id == AlertEvent.rule_id)
        .where(AlertEvent.state == "firing", AlertRule.kind == "recorder_health")
        .order_by(AlertEvent.fired_at)
    )
    with engine.connect() as conn:
        return [str(message) for message in conn.scalars(query)]


def _budget_scopes(conn: Connection) -> dict[str, str]:
    """Each budget's scope as text (``project:3``, ``tag:team=search``), by budget name."""
    rows = conn.execute(select(Budget.name, Budget.scope_kind, Budget.scope_value))
    return {str(n): f"{k}:{v}" if v is not None else str(k) for n, k, v in rows}


def _event_scope(kind: str, event: Any, budgets: Mapping[str, str]) -> Scope | None:
    """What the event is about: a budget alert's budget's scope (its rule watches budgets,
    whatever the rule's own scope), or the member a split rule (``spend_anomaly`` per key,
    …) fired for; None: the rule's scope."""
    from collector.budgets import BudgetConfigError, parse_scope

    payload: Mapping[str, Any] = event.payload
    raw: Any = None
    if kind == "spend_anomaly":
        raw = payload.get("scope")
    elif kind in _BUDGET_KINDS:
        parts = event.dedup_key.split(_RESOLVED, 1)[0].split("|")
        name = payload.get("budget") or (parts[2] if len(parts) > 2 else None)
        raw = budgets.get(str(name)) if name is not None else None
    try:
        return parse_scope(raw) if isinstance(raw, str) else None
    except BudgetConfigError:
        return None


def _unpriced_threshold(rule: Any) -> str:
    least = int(rule.params.get("min_requests", 1)) if rule is not None else 1
    return f"{max(least, 1)}+ unpriced request{'s' if least > 1 else ''}"


def scope_label(scope: Scope, projects: Mapping[int, str]) -> str:
    """``global``, ``project: checkout`` (projects by name), ``model: gpt-4o``, …"""
    if scope.value is None:
        return scope.kind.value
    value = scope.value
    if scope.kind.value == "project" and value.isdigit():
        value = projects.get(int(value), f"#{value}")
    return f"{scope.kind.value}: {value}"


def describe(kind: str, dedup_key: str) -> tuple[str, str]:
    """The period (or window) and threshold an event fired for, from its dedup key.

    Keys read ``rule|scope|…`` (see ``collector.alerts._rules``): budgets add the budget,
    the period start and the threshold; windowed rules add the window and the threshold;
    ``spend_anomaly`` adds its window, its sensitivity and the member it fired for.
    """
    parts = dedup_key.split(_RESOLVED, 1)[0].split("|")[2:]
    if kind in _BUDGET_KINDS and len(parts) >= 3:
        return f"{parts[0]} from {parts[1][:10]}", _budget_threshold(parts[2])
    if kind == "spend_anomaly" and len(parts) >= 2:
        return parts[0], f"above usual + {parts[1]} spreads"
    if len(parts) >= 2:
        unit = {"slo_burn_rate": "×", "error_rate": " %", "latency_p95": " ms"}.get(kind)
        return parts[0], f"{parts[1]}{unit}" if unit else parts[1]
    return "", ""


def _budget_threshold(part: str) -> str:
    if part == "forecast":
        return "forecast over amount"
    if part.startswith("exhaustion>"):
        return f"runs out over {part.removeprefix('exhaustion>')} before the end"
    return f"{part} %"


def delivery_text(deliveries: Mapping[str, Any]) -> str:
    """``fire: slack ok, webhook failed: 500`` — every phase's channels, in order."""
    phases = []
    for phase, results in deliveries.items():
        if not isinstance(results, Mapping):
            continue
        parts = []
        for channel, result in results.items():
            ok = isinstance(result, Mapping) and result.get("ok")
            detail = result.get("detail") if isinstance(result, Mapping) else None
            parts.append(f"{channel} ok" if ok else f"{channel} failed: {detail or 'unknown'}")
        phases.append(f"{phase}: {', '.join(parts) or 'no channels'}")
    return "; ".join(phases)
