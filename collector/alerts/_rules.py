"""Rule evaluation: (rule, measurements, now) → the alerts whose condition holds. Pure.

Dedup keys are ``rule id | scope | period | threshold``: one alert per budget period and
threshold, per burn-rate window pair, per window and threshold for traffic rules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from collector.alerts import _reconcile as reconcile_rules
from collector.alerts._anomaly_rule import spend_anomaly
from collector.alerts._common import dedup_key as _key
from collector.alerts._common import parse_duration
from collector.alerts._exhaustion import PERIOD_RATE
from collector.alerts._types import Alert, Measurements, Rule, RuleKind
from collector.analytics.slo import DEFAULT_SLO, burn_rate, slo_counts
from collector.budgets import BudgetStatus, exhaustion_at, usd


def _budgets(rule: Rule, m: Measurements) -> list[BudgetStatus]:
    wanted = rule.params.get("budget")
    return [s for name, s in sorted(m.budgets.items()) if wanted in (None, name)]


def _budget_label(s: BudgetStatus) -> str:
    b = s.budget
    return f"Budget '{b.name}' ({b.scope}, per {b.period}, {b.mode})"


def _budget_threshold(rule: Rule, m: Measurements, now: datetime) -> list[Alert]:
    out = []
    for s in _budgets(rule, m):
        period = s.window.start.isoformat()
        for t in s.crossed:
            text = (
                f"{_budget_label(s)} crossed {t}%: {usd(s.spent_usd)} of "
                f"{usd(s.budget.amount_usd)} spent ({s.percent}%)."
            )
            details = {"budget": s.budget.name, "threshold_pct": t, "percent": str(s.percent)}
            key = _key(rule, s.budget.name, period, t)
            out.append(Alert(rule.id, rule.name, rule.kind, key, text, details))
    return out


def _runs_out(at: datetime | None) -> str:
    return "" if at is None else f" At this rate it runs out about {at:%Y-%m-%d %H:%M} UTC."


def _forecast_overrun(rule: Rule, m: Measurements, now: datetime) -> list[Alert]:
    minimum = Decimal(str(rule.params["min_elapsed_fraction"]))
    out = []
    for s in _budgets(rule, m):
        f = s.forecast
        if f.elapsed_fraction < minimum or f.projected_usd <= s.budget.amount_usd:
            continue
        at = exhaustion_at(s.budget.amount_usd - s.spent_usd, f.rate_usd_per_hour, now)
        text = (
            f"{_budget_label(s)} is forecast to reach {usd(f.projected_usd)} of "
            f"{usd(s.budget.amount_usd)} by {s.window.end.isoformat()} "
            f"(spending {usd(f.rate_usd_per_hour)}/h).{_runs_out(at)}"
        )
        details = {"budget": s.budget.name, "projected_usd": str(f.projected_usd),
                   "exhausts_at": at.isoformat() if at else None}  # fmt: skip
        key = _key(rule, s.budget.name, s.window.start.isoformat(), "forecast")
        out.append(Alert(rule.id, rule.name, rule.kind, key, text, details))
    return out


def _budget_exhaustion(rule: Rule, m: Measurements, now: datetime) -> list[Alert]:
    """Budgets that, at the recent rate, run out more than ``margin`` before their period ends."""
    margin = rule.params["margin"]
    out = []
    for s in _budgets(rule, m):
        rate = m.rates.get(s.budget.name, s.forecast.rate_usd_per_hour)
        at = exhaustion_at(s.remaining_usd, rate, now)
        if at is None or at >= s.window.end - parse_duration(margin):
            continue
        basis = rule.params["rate_window"]
        basis = "since the period began" if basis == PERIOD_RATE else f"over the last {basis}"
        text = (
            f"{_budget_label(s)} runs out about {at:%Y-%m-%d %H:%M} UTC at {usd(rate)}/h "
            f"(its rate {basis}), before its period ends {s.window.end:%Y-%m-%d %H:%M} UTC: "
            f"{usd(max(s.remaining_usd, Decimal(0)))} of {usd(s.budget.amount_usd)} left."
        )
        details = {
            "budget": s.budget.name, "exhausts_at": at.isoformat(),
            "period_end": s.window.end.isoformat(), "rate_usd_per_hour": str(rate),
            "remaining_usd": str(s.remaining_usd), "margin": margin,
        }  # fmt: skip
        key = _key(rule, s.budget.name, s.window.start.isoformat(), f"exhaustion>{margin}")
        out.append(Alert(rule.id, rule.name, rule.kind, key, text, details))
    return out


def _slo_target(rule: Rule, m: Measurements) -> Decimal:
    raw = rule.params.get("slo_target") or m.slo_target
    return Decimal(str(raw)) if raw is not None else DEFAULT_SLO


def _burn(rule: Rule, m: Measurements, window: str, target: Decimal) -> float | None:
    traffic = m.traffic.get(parse_duration(window))
    if traffic is None:
        return None
    rate = burn_rate(slo_counts(traffic.by_outcome), target)
    return None if rate is None else float(rate)


def _slo_burn_rate(rule: Rule, m: Measurements, now: datetime) -> list[Alert]:
    target = _slo_target(rule, m)
    out = []
    for long, short, factor in rule.params["windows"]:
        rates = (_burn(rule, m, long, target), _burn(rule, m, short, target))
        if any(r is None or r <= factor for r in rates):
            continue
        text = (
            f"Error budget of {rule.scope} (SLO {target * 100}%) is burning at "
            f"{rates[0]:.1f}x over {long} and {rates[1]:.1f}x over {short} (alert above {factor}x)."
        )
        details = {"long": long, "short": short, "factor": factor, "burn_rates": list(rates)}
        out.append(
            Alert(
                rule.id, rule.name, rule.kind, _key(rule, f"{long}/{short}", factor), text, details
            )
        )
    return out


def _window_traffic(rule: Rule, m: Measurements) -> Any:
    traffic = m.traffic.get(parse_duration(rule.params["window"]))
    if traffic is None or traffic.requests < int(rule.params["min_requests"]):
        return None
    return traffic


def _error_rate(rule: Rule, m: Measurements, now: datetime) -> list[Alert]:
    traffic = _window_traffic(rule, m)
    if traffic is None:
        return []
    counts = slo_counts(traffic.by_outcome)
    if counts.eligible == 0:
        return []
    pct = Decimal(counts.bad * 100) / counts.eligible
    threshold = Decimal(str(rule.params["threshold_pct"]))
    if pct <= threshold:
        return []
    window = rule.params["window"]
    text = (
        f"Error rate of {rule.scope} is {pct:.2f}% over the last {window} "
        f"({counts.bad} of {counts.eligible} requests failed; alert above {threshold}%)."
    )
    details = {"error_pct": str(round(pct, 4)), "bad": counts.bad, "eligible": counts.eligible}
    return [Alert(rule.id, rule.name, rule.kind, _key(rule, window, threshold), text, details)]


def _latency_p95(rule: Rule, m: Measurements, now: datetime) -> list[Alert]:
    traffic = _window_traffic(rule, m)
    threshold = float(rule.params["threshold_ms"])
    if traffic is None or traffic.p95_ms is None or traffic.p95_ms <= threshold:
        return []
    window = rule.params["window"]
    text = (
        f"p95 latency of {rule.scope} is {traffic.p95_ms:.0f} ms over the last {window} "
        f"(alert above {threshold:.0f} ms)."
    )
    details = {"p95_ms": traffic.p95_ms, "threshold_ms": threshold}
    return [Alert(rule.id, rule.name, rule.kind, _key(rule, window, threshold), text, details)]


def _unpriced(rule: Rule, m: Measurements, now: datetime) -> list[Alert]:
    traffic = m.traffic.get(parse_duration(rule.params["window"]))
    if traffic is None:
        return []
    out = []
    for model, n in sorted(traffic.unpriced_by_model.items()):
        if n < max(1, int(rule.params["min_requests"])):
            continue
        text = (
            f"{n} request(s) in {rule.scope} used model '{model}', which has no exact price in "
            f"the catalog, over the last {rule.params['window']}: their cost is not counted "
            "(unpriced) or only assumed from its alias (estimated). Add a price: see "
            "docs/finance.md, 'Keeping prices current'."
        )
        key = _key(rule, rule.params["window"], model)
        out.append(Alert(rule.id, rule.name, rule.kind, key, text, {"model": model, "requests": n}))
    return out


# reasons whose text carries a count that should alert again when it grows
_COUNTED = frozenset({"quarantine", "dropped"})


def _recorder_health(rule: Rule, m: Measurements, now: datetime) -> list[Alert]:
    """One alert per reason the record is not whole (lag, spool, quarantine, drops, …)."""
    out = []
    for code, reason in sorted(m.recorder.items()):
        key = _key(rule, code, reason) if code in _COUNTED else _key(rule, code)
        text = f"Recording is degraded: {reason}."
        out.append(Alert(rule.id, rule.name, rule.kind, key, text, {"reason": code}))
    return out


def _key_revoked(rule: Rule, m: Measurements, now: datetime) -> list[Alert]:
    """One alert per server-held upstream key the upstream refused (named by its last four)."""
    out = []
    window = rule.params["window"]
    for (upstream, last4), n in sorted(m.refused_keys.items()):
        tries = "1 try" if n == 1 else f"{n} tries"
        text = (
            f"Upstream {upstream!r} refused the server's key …{last4} ({tries}"
            f" answered 401/403 over the last {window}): the gateway took it out of rotation and "
            "retried with its other keys. Replace it in SPENDSCOPE_UPSTREAM_KEYS and reload (see "
            "docs/operators.md, 'Rotating upstream keys')."
        )
        details = {"upstream": upstream, "key": f"…{last4}", "refused": n}
        out.append(Alert(rule.id, rule.name, rule.kind, _key(rule, upstream, last4), text, details))
    return out


_EVALUATORS: dict[RuleKind, Callable[[Rule, Measurements, datetime], list[Alert]]] = {
    RuleKind.RECONCILIATION_DRIFT: reconcile_rules.drift,
    RuleKind.UNMETERED_SPEND: reconcile_rules.unmetered,
    RuleKind.BUDGET_THRESHOLD: _budget_threshold,
    RuleKind.FORECAST_OVERRUN: _forecast_overrun,
    RuleKind.SLO_BURN_RATE: _slo_burn_rate,
    RuleKind.ERROR_RATE: _error_rate,
    RuleKind.LATENCY_P95: _latency_p95,
    RuleKind.UNPRICED_TRAFFIC: _unpriced,
    RuleKind.RECORDER_HEALTH: _recorder_health,
    RuleKind.SPEND_ANOMALY: spend_anomaly,
    RuleKind.BUDGET_EXHAUSTION: _budget_exhaustion,
    RuleKind.UPSTREAM_KEY_REVOKED: _key_revoked,
}


def evaluate_rule(rule: Rule, measurements: Measurements, now: datetime) -> list[Alert]:
    """Every alert of ``rule`` whose condition holds at ``now``."""
    return _EVALUATORS[rule.kind](rule, measurements, now)
