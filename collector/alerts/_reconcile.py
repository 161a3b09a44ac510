"""Alert rules over the reconciliation with OpenAI's bill (``reconciliation_drift``,
``unmetered_spend``): parameters, measurement and evaluation, in one module of their own.

Measured from what is stored — the fetched bill (``bill_lines``, filled by the daily job or
``spendscope reconcile``) and the metered record — over the ``days`` finished UTC days
before now; a day whose bill was never fetched is not judged. Alerts are keyed by day and
line (drift) or by key and project (unmetered), so each fires once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine

from collector.alerts._common import dedup_key as _key
from collector.alerts._types import Alert, AlertConfigError, Measurements, Rule, RuleKind
from collector.budgets import Scope, ScopeKind
from collector.reconcile import LineKind, Ownership, usd_text

RECONCILE_KINDS = frozenset({RuleKind.RECONCILIATION_DRIFT, RuleKind.UNMETERED_SPEND})
DEFAULTS: dict[RuleKind, dict[str, Any]] = {
    RuleKind.RECONCILIATION_DRIFT: {"threshold_pct": 1, "threshold_usd": "1.00", "days": 7},
    RuleKind.UNMETERED_SPEND: {"threshold_usd": "0.01", "days": 7},
}
_LIMITS = {
    "threshold_pct": (Decimal(0), Decimal(100)),
    "threshold_usd": (Decimal(0), Decimal(10**9)),
    "days": (Decimal(1), Decimal(90)),
}


def validate(kind: RuleKind, scope: Scope, params: Mapping[str, Any]) -> None:
    """Reconciliation rules watch the whole bill: global scope, numbers within range."""
    if scope.kind is not ScopeKind.GLOBAL:
        raise AlertConfigError(f"{kind} rules watch the organization's bill: scope global only")
    for name in DEFAULTS[kind]:
        low, high = _LIMITS[name]
        try:
            value = Decimal(str(params[name]))
        except (InvalidOperation, KeyError):
            raise AlertConfigError(f"parameter {name} must be a number") from None
        if not low <= value <= high or (name == "days" and value != int(value)):
            raise AlertConfigError(f"parameter {name} must be within {low}..{high}, got {value}")


def measure(engine: Engine, rule: Rule, now: datetime, owners: Ownership) -> Measurements:
    """The reconciliation of the rule's finished days (its stored bill against the record)."""
    from collector.analytics._reconciliation import reconciliation

    today = now.date()
    start = today - timedelta(days=int(rule.params["days"]))
    return Measurements(
        reconciliation=reconciliation(engine, start, today - timedelta(days=1), owners)
    )


def drift(rule: Rule, m: Measurements, now: datetime) -> list[Alert]:
    """A line whose difference passes both thresholds (USD and % of what was billed)."""
    rec = m.reconciliation
    if rec is None:
        return []
    usd = Decimal(str(rule.params["threshold_usd"]))
    pct = Decimal(str(rule.params["threshold_pct"]))
    out = []
    for line in rec.lines:
        if line.day not in rec.fetched_days or line.kind is LineKind.MATCH:
            continue
        diff = abs(line.difference_usd)
        share = None if line.billed_usd == 0 else diff * 100 / line.billed_usd
        if diff < usd or (share is not None and share < pct):
            continue
        text = (
            f"Reconciliation drift ({line.kind.value}): {line.explanation} Difference "
            f"${usd_text(line.difference_usd)} (alert at ${usd} and {pct}%)."
        )
        details = {"day": line.day.isoformat(), "group": line.group, "kind": line.kind.value,
                   "billed_usd": usd_text(line.billed_usd),
                   "metered_usd": usd_text(line.metered_usd),
                   "difference_usd": usd_text(line.difference_usd)}  # fmt: skip
        key = _key(rule, line.day.isoformat(), line.group)
        out.append(Alert(rule.id, rule.name, rule.kind, key, text, details))
    return out


def unmetered(rule: Rule, m: Measurements, now: datetime) -> list[Alert]:
    """Spend under a key or project the gateway never used, at or above the threshold."""
    rec = m.reconciliation
    if rec is None:
        return []
    threshold = Decimal(str(rule.params["threshold_usd"]))
    out = []
    for u in rec.unmetered:
        if u.billed_usd < threshold or u.billed_usd == 0:
            continue
        days = ", ".join(d.isoformat() for d in u.days)
        text = (
            f"Unmetered spend: OpenAI billed ${usd_text(u.billed_usd)} under API key "
            f"{u.api_key_id or '(none)'} in project {u.project_id or '(none)'} on {days}, "
            "which the gateway never used: this traffic bypassed spendscope."
        )
        details = {
            "api_key_id": u.api_key_id,
            "project_id": u.project_id,
            "billed_usd": usd_text(u.billed_usd),
            "days": [d.isoformat() for d in u.days],
        }
        key = _key(rule, u.api_key_id, u.project_id, u.days[-1].isoformat())
        out.append(Alert(rule.id, rule.name, rule.kind, key, text, details))
    return out
