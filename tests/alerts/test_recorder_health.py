"""The recorder_health alert: a quarantined or dropped event, or a lagging record, is alerted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from collector.alerts import (
    AlertConfigError,
    AlertEvaluator,
    Measurements,
    Rule,
    RuleKind,
    add_rule,
    evaluate_rule,
    parse_channel,
    validate_params,
)
from collector.budgets import parse_scope
from collector.settings import load_settings
from tests.alerts.conftest import Receiver

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
SETTINGS = load_settings(alert_webhook_secret="k", alert_http_backoff_ms=1, alert_http_retries=1)


def _rule() -> Rule:
    scope = parse_scope("global")
    return Rule(
        3,
        "rec",
        RuleKind.RECORDER_HEALTH,
        scope,
        validate_params(RuleKind.RECORDER_HEALTH, scope, {}),
    )


def test_one_alert_per_reason_and_a_grown_count_alerts_again() -> None:
    m = Measurements(recorder={"quarantine": "2 quarantined batches", "lag": "waited 40 s"})
    alerts = evaluate_rule(_rule(), m, NOW)
    assert [a.details["reason"] for a in alerts] == ["lag", "quarantine"]
    assert "Recording is degraded: 2 quarantined batches." in [a.message for a in alerts]
    grown = Measurements(recorder={"quarantine": "3 quarantined batches", "lag": "waited 90 s"})
    keys = {a.dedup_key for a in alerts}
    new_keys = {a.dedup_key for a in evaluate_rule(_rule(), grown, NOW)}
    assert len(keys & new_keys) == 1  # the lag alert holds; the quarantine count is new
    assert evaluate_rule(_rule(), Measurements(), NOW) == []


def test_only_global_scope() -> None:
    with pytest.raises(AlertConfigError, match="scope global only"):
        validate_params(RuleKind.RECORDER_HEALTH, parse_scope("project:a"), {})


async def test_the_evaluator_reads_its_recorder_and_delivers(
    engine: Engine, receiver: Receiver
) -> None:
    health: dict[str, str] = {"dropped": "4 events dropped since start (see the log)"}
    channel = parse_channel("webhook", receiver.base + "/hook", SETTINGS)
    add_rule(engine, "recording", "recorder_health", "global", {}, (channel,), NOW)
    evaluator = AlertEvaluator(engine, SETTINGS, lambda: health)
    fired = await evaluator.evaluate_once(NOW)
    assert len(fired.fired) == 1
    body = json.loads(receiver.on("/hook")[-1].body)
    assert "4 events dropped since start" in body["message"]
    health.clear()  # recording works again: the alert resolves
    later = await evaluator.evaluate_once(NOW + timedelta(minutes=1))
    assert len(later.resolved) == 1
