"""Rule evaluation is pure: measurements and ``now`` in, alerts (with dedup keys) out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from collector.alerts import (
    AlertConfigError,
    Measurements,
    Rule,
    RuleKind,
    Traffic,
    evaluate_rule,
    validate_params,
)
from collector.budgets import BudgetSpec, Mode, evaluate, parse_period, parse_scope, period_window

NOW = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)
MIN5, MIN30, H1, H6 = (timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=1),
                       timedelta(hours=6))  # fmt: skip


def rule(kind: RuleKind, scope: str = "global", **params: object) -> Rule:
    s = parse_scope(scope)
    return Rule(9, "r", kind, s, validate_params(kind, s, params))


def status(spent: str, amount: str = "10", now: datetime = NOW) -> Measurements:
    b = BudgetSpec(
        "team", parse_scope("project:a"), parse_period("month"), Decimal(amount), Mode.SOFT
    )
    w = period_window(b.period, now, ZoneInfo("UTC"))
    return Measurements(budgets={"team": evaluate(b, w, Decimal(spent), Decimal(0), now)})


def test_budget_threshold_one_alert_per_crossed_threshold() -> None:
    alerts = evaluate_rule(rule(RuleKind.BUDGET_THRESHOLD), status("8.10"), NOW)
    keys = [a.dedup_key for a in alerts]
    assert keys == [
        "9|global|team|2026-11-01T00:00:00+00:00|50",
        "9|global|team|2026-11-01T00:00:00+00:00|80",
    ]
    assert "crossed 80%: $8.10 of $10.00 spent (81.00%)" in alerts[1].message
    assert evaluate_rule(rule(RuleKind.BUDGET_THRESHOLD), status("4.99"), NOW) == []
    other = rule(RuleKind.BUDGET_THRESHOLD, budget="someone-else")
    assert evaluate_rule(other, status("9"), NOW) == []


def test_forecast_overrun_waits_for_enough_of_the_period() -> None:
    r = rule(RuleKind.FORECAST_OVERRUN, min_elapsed_fraction=0.2)
    assert evaluate_rule(r, status("6"), NOW)[0].details["projected_usd"] == "12.0000000000"
    assert evaluate_rule(r, status("4"), NOW) == []  # projected 8 < 10
    early = NOW - timedelta(days=12)  # 10 % into November
    assert evaluate_rule(r, status("2", now=early), early) == []


def traffic(**by: int) -> Traffic:
    return Traffic(by_outcome=by)


def test_burn_rate_needs_both_windows_of_a_pair() -> None:
    r = rule(RuleKind.SLO_BURN_RATE, "project:a", slo_target="0.99")
    burning = Measurements(traffic={
        H1: traffic(success=850, upstream_error=150),  # 15 % bad / 1 % = 15x
        MIN5: traffic(success=80, timeout=20, client_error=500),  # 20x (client errors ignored)
        H6: traffic(success=990, upstream_error=10), MIN30: traffic(success=100),
    })  # fmt: skip
    [alert] = evaluate_rule(r, burning, NOW)
    assert alert.dedup_key == "9|project:a|1h/5m|14.4"
    assert alert.details["burn_rates"] == [15.0, 20.0]
    recovering = Measurements(traffic={**burning.traffic, MIN5: traffic(success=100)})
    assert evaluate_rule(r, recovering, NOW) == []


def test_burn_rate_uses_the_project_target_by_default() -> None:
    r = rule(RuleKind.SLO_BURN_RATE, "project:a", windows=[["6h", "30m", 6]])
    m = Measurements(
        traffic={H6: traffic(success=93, upstream_error=7), MIN30: traffic(success=9, timeout=1)},
        slo_target="0.9",
    )
    assert evaluate_rule(r, m, NOW) == []  # 0.7x and 1x of a 10 % budget
    assert len(evaluate_rule(r, Measurements(traffic=m.traffic), NOW)) == 1  # 99.5 % default


def test_error_rate_and_latency_and_minimum_traffic() -> None:
    er = rule(RuleKind.ERROR_RATE, threshold_pct=10, window="5m", min_requests=10)
    [a] = evaluate_rule(er, Measurements(traffic={MIN5: traffic(success=8, upstream_error=2)}), NOW)
    assert "20.00%" in a.message
    assert evaluate_rule(er, Measurements(traffic={MIN5: traffic(success=1, timeout=1)}), NOW) == []
    lat = rule(RuleKind.LATENCY_P95, threshold_ms=500, window="5m", min_requests=1)
    slow = Measurements(traffic={MIN5: Traffic({"success": 5}, p95_ms=750.0)})
    [b] = evaluate_rule(lat, slow, NOW)
    assert b.dedup_key == "9|global|5m|500.0"
    fast = Measurements(traffic={MIN5: Traffic({"success": 5}, p95_ms=120.0)})
    assert evaluate_rule(lat, fast, NOW) == []


def test_unpriced_traffic_alerts_per_model() -> None:
    r = rule(RuleKind.UNPRICED_TRAFFIC)
    m = Measurements(traffic={H1: Traffic({"success": 3}, unpriced_by_model={"x-1": 2, "y": 1})})
    assert [a.details["model"] for a in evaluate_rule(r, m, NOW)] == ["x-1", "y"]


@pytest.mark.parametrize(
    ("kind", "scope", "params", "needle"),
    [
        (RuleKind.ERROR_RATE, "global", {"threshold_pct": 500}, "within"),
        (RuleKind.ERROR_RATE, "global", {"window": "5 minutes"}, "bad window"),
        (RuleKind.ERROR_RATE, "tag:a=b", {}, "scopes"),
        (RuleKind.SLO_BURN_RATE, "global", {"windows": [["5m", "1h", 14.4]]}, "shorter"),
        (RuleKind.SLO_BURN_RATE, "global", {"slo_target": 1.5}, "within"),
        (RuleKind.LATENCY_P95, "global", {"treshold_ms": 5}, "unknown parameter"),
    ],
)
def test_bad_rule_parameters(
    kind: RuleKind, scope: str, params: dict[str, object], needle: str
) -> None:
    with pytest.raises(AlertConfigError, match=needle):
        validate_params(kind, parse_scope(scope), params)
