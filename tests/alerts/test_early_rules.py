"""The early-warning kinds, pure: parameters checked when a rule is made, budget exhaustion
evaluated from statuses and rates, and the date every forecast states."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from collector.alerts import AlertConfigError, Measurements, Rule, RuleKind, validate_params
from collector.alerts import evaluate_rule as run_rule
from collector.budgets import (
    BudgetSpec,
    Mode,
    evaluate,
    exhaustion_at,
    parse_period,
    parse_scope,
    period_window,
)
from collector.cli import app
from tests.support.templates import migrate

NOW = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)  # 15 of November's 30 days gone


def rule(kind: RuleKind, scope: str = "global", **params: object) -> Rule:
    s = parse_scope(scope)
    return Rule(9, "r", kind, s, validate_params(kind, s, params))


def status(spent: str, amount: str = "10", **rates: str) -> Measurements:
    b = BudgetSpec(
        "team", parse_scope("project:a"), parse_period("month"), Decimal(amount), Mode.SOFT
    )
    w = period_window(b.period, NOW, ZoneInfo("UTC"))
    return Measurements(
        budgets={"team": evaluate(b, w, Decimal(spent), Decimal(0), NOW)},
        rates={k: Decimal(v) for k, v in rates.items()},
    )


def test_exhaustion_at_to_the_second() -> None:
    assert exhaustion_at(Decimal(50), Decimal("2.5"), NOW) == NOW + timedelta(hours=20)
    assert exhaustion_at(Decimal(1), Decimal(3), NOW) == NOW + timedelta(seconds=1200)
    assert exhaustion_at(Decimal(1), Decimal(7), NOW) == NOW + timedelta(seconds=515)  # 514.29…
    assert exhaustion_at(Decimal(0), Decimal(1), NOW) == NOW  # already spent
    assert exhaustion_at(Decimal(-3), Decimal(0), NOW) == NOW
    assert exhaustion_at(Decimal(5), Decimal(0), NOW) is None  # nothing being spent
    assert exhaustion_at(Decimal(10**9), Decimal("1e-10"), NOW) is None  # beyond a century


def test_budget_exhaustion_at_the_recent_rate() -> None:
    r = rule(RuleKind.BUDGET_EXHAUSTION)
    [alert] = run_rule(r, status("6", team="0.5"), NOW)  # $4 left at $0.50/h: 8 hours
    assert alert.details["exhausts_at"] == "2026-11-16T08:00:00+00:00"
    assert alert.dedup_key == "9|global|team|2026-11-01T00:00:00+00:00|exhaustion>1d"
    assert "runs out about 2026-11-16 08:00 UTC at $0.50/h (its rate over the last 24h)" in (
        alert.message
    )
    assert "$4.00 of $10.00 left" in alert.message
    # $4 left at $0.0055/h lasts 727.27 h: past December 1st, nothing to say
    assert run_rule(r, status("6", team="0.0055"), NOW) == []
    assert run_rule(r, status("6", team="0"), NOW) == []


def test_budget_exhaustion_margin_and_period_rate() -> None:
    # the period's average rate: $6 over 360 h = 0.0166666667/h; $4 lasts 240 h → Nov 26
    early = rule(RuleKind.BUDGET_EXHAUSTION, rate_window="period")
    [alert] = run_rule(early, status("6"), NOW)
    assert alert.details["exhausts_at"] == "2026-11-26T00:00:00+00:00"
    assert "its rate since the period began" in alert.message
    wide = rule(RuleKind.BUDGET_EXHAUSTION, rate_window="period", margin="4d")
    assert len(run_rule(wide, status("6"), NOW)) == 1  # 5 days early > 4 days
    wider = rule(RuleKind.BUDGET_EXHAUSTION, rate_window="period", margin="5d")
    assert run_rule(wider, status("6"), NOW) == []  # exactly 5 days early is not more than 5
    [spent] = run_rule(early, status("12"), NOW)  # already over: it ran out now
    assert spent.details["exhausts_at"] == NOW.isoformat() and "$0.00 of $10.00 left" in (
        spent.message
    )


def test_forecast_overrun_states_the_date() -> None:
    r = rule(RuleKind.FORECAST_OVERRUN)
    [alert] = run_rule(r, status("6"), NOW)
    assert alert.details["exhausts_at"] == "2026-11-26T00:00:00+00:00"
    assert "At this rate it runs out about 2026-11-26 00:00 UTC." in alert.message


@pytest.mark.parametrize(
    ("kind", "scope", "params", "needle"),
    [
        (RuleKind.SPEND_ANOMALY, "global", {"window": "90m"}, "whole hours, 1h..24h"),
        (RuleKind.SPEND_ANOMALY, "global", {"window": "2d"}, "whole hours, 1h..24h"),
        (RuleKind.SPEND_ANOMALY, "global", {"window": "soon"}, "bad window"),
        (RuleKind.SPEND_ANOMALY, "global", {"weeks": 0}, "weeks must be within 1..26"),
        (RuleKind.SPEND_ANOMALY, "global", {"weeks": 2.5}, "weeks must be a whole number"),
        (RuleKind.SPEND_ANOMALY, "global", {"sensitivity": "high"}, "sensitivity must be a number"),
        (RuleKind.SPEND_ANOMALY, "global", {"min_usd": -1}, "min_usd must be within"),
        (RuleKind.SPEND_ANOMALY, "global", {"floor_usd": 0}, "floor_usd must be above 0"),
        (RuleKind.SPEND_ANOMALY, "global", {"per": "team"}, "bad per 'team'"),
        (RuleKind.SPEND_ANOMALY, "global", {"per": "tag:a=b"}, "bad per"),
        (RuleKind.SPEND_ANOMALY, "tag:team=ml", {"per": "key"}, "cannot be combined with key"),
        (RuleKind.SPEND_ANOMALY, "user:bob", {"per": "tag:team"}, "cannot be combined"),
        (RuleKind.SPEND_ANOMALY, "tag:team=ml", {"per": "tag:env"}, "cannot be split per tag"),
        (RuleKind.SPEND_ANOMALY, "global", {"threshold": 3}, "unknown parameter(s)"),
        (RuleKind.SPEND_ANOMALY, "global", {"center": "mean"}, "bad center 'mean'"),
        (RuleKind.SPEND_ANOMALY, "global", {"scale": "sd"}, "bad scale 'sd'"),
        (RuleKind.BUDGET_EXHAUSTION, "global", {"margin": "a week"}, "bad window"),
        (RuleKind.BUDGET_EXHAUSTION, "global", {"rate_window": "recent"}, "or 'period'"),
    ],
)
def test_bad_parameters_are_named(
    kind: RuleKind, scope: str, params: dict[str, object], needle: str
) -> None:
    with pytest.raises(AlertConfigError) as caught:
        validate_params(kind, parse_scope(scope), params)
    assert needle in str(caught.value)


def test_good_parameters_keep_their_defaults() -> None:
    params = validate_params(
        RuleKind.SPEND_ANOMALY, parse_scope("tag:team=ml"), {"per": "model", "window": "3h"}
    )
    assert params == {
        "window": "3h", "weeks": 12, "sensitivity": "4.5", "min_usd": "1", "floor_pct": "46",
        "floor_usd": "0.34", "center": "trimmed", "scale": "pooled", "per": "model",
        "top": 5,
    }  # fmt: skip


def test_cli_refuses_a_bad_anomaly_rule_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrate(url)
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", url)
    out = str(tmp_path / "a.jsonl")
    base = ["alerts", "rules", "add", "--kind", "spend_anomaly", "--file", out]
    bad = CliRunner().invoke(app, [*base, "--name", "x", "--param", "window=90m"])
    assert bad.exit_code != 0 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].endswith("must be whole hours, 1h..24h")
    good = CliRunner().invoke(
        app, [*base, "--name", "keys", "--scope", "project:acme", "--param", "per=key"]
    )
    assert good.exit_code == 0, good.stderr
    listed = json.loads(CliRunner().invoke(app, ["alerts", "rules", "list", "--json"]).stdout)
    assert listed[0]["params"]["per"] == "key" and listed[0]["kind"] == "spend_anomaly"
