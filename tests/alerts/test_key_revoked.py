"""``upstream_key_revoked``: a server-held key the upstream refused is alerted, once per key,
by webhook and email (the real receivers of ``tests/alerts/conftest``), and resolves later."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

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
from collector.recorder import AttemptEvent, write_batch
from collector.settings import load_settings
from tests.alerts.conftest import Receiver
from tests.factories import make_event

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
KIND = RuleKind.UPSTREAM_KEY_REVOKED


def _rule(**params: Any) -> Rule:
    scope = parse_scope("global")
    return Rule(4, "keys", KIND, scope, validate_params(KIND, scope, params))


def test_one_alert_per_refused_key_named_by_its_last_four_only() -> None:
    m = Measurements(refused_keys={("default", "abcd"): 1, ("second", "wxyz"): 3})
    alerts = evaluate_rule(_rule(), m, NOW)
    assert [a.details for a in alerts] == [
        {"upstream": "default", "key": "…abcd", "refused": 1},
        {"upstream": "second", "key": "…wxyz", "refused": 3},
    ]
    assert "refused the server's key …abcd (1 try answered 401/403 over the last 15m)" in (
        alerts[0].message
    )
    assert len({a.dedup_key for a in alerts}) == 2
    assert evaluate_rule(_rule(window="1h"), Measurements(), NOW) == []


def test_only_global_scope_and_a_valid_window() -> None:
    with pytest.raises(AlertConfigError, match="scope global only"):
        validate_params(KIND, parse_scope("project:a"), {})
    with pytest.raises(AlertConfigError):
        validate_params(KIND, parse_scope("global"), {"window": "soon"})
    with pytest.raises(AlertConfigError, match="unknown parameter"):
        validate_params(KIND, parse_scope("global"), {"threshold_pct": 5})


def _request(engine: Engine, at: datetime, *tries: tuple[int, str | None]) -> None:
    attempts = [
        AttemptEvent(n, at, 5.0, "gpt-4o-mini", "default", status, upstream_key_last4=last4)
        for n, (status, last4) in enumerate(tries, 1)
    ]
    write_batch(engine, [make_event(started_at=at, attempts=attempts)])


async def test_the_evaluator_reads_refused_tries_and_delivers(
    engine: Engine, receiver: Receiver, smtp: tuple[int, Any]
) -> None:
    port, inbox = smtp
    s = load_settings(
        alert_http_backoff_ms=1, alert_http_retries=1, smtp_host="127.0.0.1", smtp_port=port,
        smtp_from="spendscope@example.com", alert_webhook_secret="k",
    )  # fmt: skip
    _request(engine, NOW - timedelta(minutes=5), (401, "0001"), (200, "0002"))
    _request(engine, NOW - timedelta(minutes=4), (403, "0001"), (200, "0002"))
    _request(engine, NOW - timedelta(minutes=3), (200, "0002"))
    _request(engine, NOW - timedelta(hours=2), (401, "0009"), (200, "0002"))  # outside the window
    _request(engine, NOW - timedelta(minutes=2), (401, None))  # the client's own key: no server key
    hooks = (
        parse_channel("webhook", receiver.base + "/hook", s),
        parse_channel("email", "oncall@example.com", s),
    )
    add_rule(engine, "keys", KIND.value, "global", {}, hooks, NOW)
    evaluator = AlertEvaluator(engine, s)
    report = await evaluator.evaluate_once(NOW)
    assert len(report.fired) == 1
    body = json.loads(receiver.on("/hook")[-1].body)
    assert body["kind"] == "upstream_key_revoked" and body["event"] == "alert.fired"
    assert body["details"]["key"] == "…0001" and body["details"]["refused"] == 2
    assert len(inbox.messages) == 1 and b"0001" in inbox.messages[0].content
    again = await evaluator.evaluate_once(NOW + timedelta(minutes=1))
    assert again.fired == []  # deduplicated
    later = await evaluator.evaluate_once(NOW + timedelta(minutes=30))
    assert len(later.resolved) == 1  # no refusal in the last 15 minutes
