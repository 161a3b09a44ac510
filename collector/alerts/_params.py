"""Rule parameters: defaults, parsing and validation at configuration time (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from collector.alerts._anomaly_rule import ANOMALY_DEFAULTS, check_anomaly
from collector.alerts._common import number as _number
from collector.alerts._common import parse_duration
from collector.alerts._exhaustion import EXHAUSTION_DEFAULTS, check_exhaustion
from collector.alerts._reconcile import DEFAULTS as RECONCILE_DEFAULTS
from collector.alerts._reconcile import RECONCILE_KINDS
from collector.alerts._reconcile import validate as validate_reconcile
from collector.alerts._types import AlertConfigError, RuleKind
from collector.budgets import Scope, ScopeKind

DEFAULT_BURN_WINDOWS: list[list[Any]] = [["1h", "5m", 14.4], ["6h", "30m", 6]]
_TRAFFIC_SCOPES = {
    ScopeKind.GLOBAL,
    ScopeKind.PROJECT,
    ScopeKind.KEY,
    ScopeKind.USER,
    ScopeKind.MODEL,
}

DEFAULTS: dict[RuleKind, dict[str, Any]] = {
    RuleKind.BUDGET_THRESHOLD: {"budget": None},
    RuleKind.FORECAST_OVERRUN: {"budget": None, "min_elapsed_fraction": "0.1"},
    RuleKind.SLO_BURN_RATE: {"slo_target": None, "windows": DEFAULT_BURN_WINDOWS},
    RuleKind.ERROR_RATE: {"threshold_pct": 5, "window": "5m", "min_requests": 20},
    RuleKind.LATENCY_P95: {"threshold_ms": 2000, "window": "5m", "min_requests": 20},
    RuleKind.UNPRICED_TRAFFIC: {"window": "1h", "min_requests": 1},
    RuleKind.RECORDER_HEALTH: {},
    RuleKind.UPSTREAM_KEY_REVOKED: {"window": "15m"},
    RuleKind.SPEND_ANOMALY: ANOMALY_DEFAULTS,
    RuleKind.BUDGET_EXHAUSTION: EXHAUSTION_DEFAULTS,
    **RECONCILE_DEFAULTS,
}


def _burn_windows(raw: Any) -> list[list[Any]]:
    if not isinstance(raw, list) or not raw:
        raise AlertConfigError("windows must be a list of [long, short, factor]")
    out = []
    for item in raw:
        if not isinstance(item, list | tuple) or len(item) != 3:
            raise AlertConfigError(f"burn window {item!r} must be [long, short, factor]")
        long, short = parse_duration(item[0]), parse_duration(item[1])
        if short >= long:
            raise AlertConfigError(f"burn window {item!r}: the short window must be shorter")
        factor = _number({"factor": item[2]}, "factor", Decimal("0.001"), Decimal(100000))
        out.append([str(item[0]), str(item[1]), float(factor)])
    return out


def validate_params(kind: RuleKind, scope: Scope, given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults merged with ``given``, checked; unknown names are errors (typos)."""
    params = dict(DEFAULTS[kind])
    unknown = set(given) - set(params)
    if unknown:
        raise AlertConfigError(f"unknown parameter(s) for {kind}: {', '.join(sorted(unknown))}")
    params.update(given)
    if kind is RuleKind.SPEND_ANOMALY:
        return check_anomaly(scope, params)
    if kind is RuleKind.BUDGET_EXHAUSTION:
        return check_exhaustion(params)
    if kind in RECONCILE_KINDS:
        validate_reconcile(kind, scope, params)
        return params
    if kind is RuleKind.RECORDER_HEALTH and scope.kind is not ScopeKind.GLOBAL:
        raise AlertConfigError(f"{kind} rules watch the gateway's recorder: scope global only")
    if kind is RuleKind.UPSTREAM_KEY_REVOKED and scope.kind is not ScopeKind.GLOBAL:
        raise AlertConfigError(f"{kind} rules watch the server's upstream keys: scope global only")
    if kind not in (RuleKind.BUDGET_THRESHOLD, RuleKind.FORECAST_OVERRUN):
        if scope.kind not in _TRAFFIC_SCOPES:
            raise AlertConfigError(f"{kind} rules support global/project/key/user/model scopes")
        parse_duration(params.get("window", "1h"))
    if kind is RuleKind.FORECAST_OVERRUN:
        _number(params, "min_elapsed_fraction", Decimal(0), Decimal(1))
    elif kind is RuleKind.SLO_BURN_RATE:
        params["windows"] = _burn_windows(params["windows"])
        if params["slo_target"] is not None:
            _number(params, "slo_target", Decimal("0.0001"), Decimal("0.99999"))
    elif kind is RuleKind.ERROR_RATE:
        _number(params, "threshold_pct", Decimal("0.001"), Decimal(100))
    elif kind is RuleKind.LATENCY_P95:
        _number(params, "threshold_ms", Decimal(1), Decimal(3_600_000))
    if "min_requests" in params:
        _number(params, "min_requests", Decimal(0), Decimal(10**9))
    return params


def windows_needed(kind: RuleKind, params: Mapping[str, Any]) -> set[timedelta]:
    """Trailing windows whose traffic the shell must measure for this rule."""
    if kind is RuleKind.SLO_BURN_RATE:
        return {parse_duration(w) for pair in params["windows"] for w in pair[:2]}
    if kind in (RuleKind.ERROR_RATE, RuleKind.LATENCY_P95, RuleKind.UNPRICED_TRAFFIC):
        return {parse_duration(params["window"])}
    return set()
