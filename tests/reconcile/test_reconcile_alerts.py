"""The daily job and both alert kinds, through the real webhook and SMTP test servers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

from collector.alerts import AlertEvaluator, add_rule, parse_channel
from collector.mock_upstream._ledger import BYPASS_KEY_ID
from collector.reconcile import DailyReconciler
from collector.settings import load_settings
from tests.alerts.conftest import Receiver
from tests.reconcile.conftest import ADMIN_KEY, GATEWAY_KEY_ID, StackFactory


async def test_daily_job_runs_once_and_both_kinds_alert(
    stack: StackFactory,
    receiver: Receiver,
    smtp: tuple[int, Any],
) -> None:
    s = stack(bypass_tokens=200_000, price_drift=("gpt-4o-2024", "1.25"))
    client = s.gateway.client()
    for model in ("gpt-4o-mini", "gpt-4o"):
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    s.gateway.requests()
    port, inbox = smtp
    settings = load_settings(
        database_url=s.db_url, openai_admin_key=ADMIN_KEY, openai_admin_base_url=s.mock_url,
        openai_key_ids={"default": GATEWAY_KEY_ID}, smtp_host="127.0.0.1", smtp_port=port,
        alert_http_backoff_ms=1,
    )  # fmt: skip
    engine = s.gateway.engine
    tomorrow = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(1), UTC)
    woken: list[bool] = []
    assert await DailyReconciler(engine, settings, lambda: woken.append(True)).run_once(tomorrow)
    assert woken == [True]
    # a second process (or a second tick) finds the day claimed
    assert not await DailyReconciler(engine, settings).run_once(tomorrow + timedelta(hours=2))
    webhook = parse_channel("webhook", receiver.base + "/drift", settings)
    email = parse_channel("email", "finance@example.com", settings)
    add_rule(engine, "drift", "reconciliation_drift", "global",
             {"threshold_usd": "0", "threshold_pct": 5}, (webhook, email), tomorrow)  # fmt: skip
    bypass_hook = parse_channel("webhook", receiver.base + "/bypass", settings)
    add_rule(engine, "bypass", "unmetered_spend", "global", {}, (bypass_hook,), tomorrow)
    evaluator = AlertEvaluator(engine, settings)
    report = await evaluator.evaluate_once(tomorrow)
    assert report.errors == [] and len(report.fired) == 2
    [drift] = [json.loads(r.body) for r in receiver.on("/drift")]
    assert drift["kind"] == "reconciliation_drift"
    assert drift["details"]["group"] == "gpt-4o-2024-08-06"
    assert drift["details"]["kind"] == "price" and "implied rate" in drift["message"]
    [bypass] = [json.loads(r.body) for r in receiver.on("/bypass")]
    assert bypass["kind"] == "unmetered_spend"
    assert bypass["details"]["api_key_id"] == BYPASS_KEY_ID and BYPASS_KEY_ID in bypass["message"]
    [mail] = inbox.messages
    assert "finance@example.com" in mail.rcpt_tos
    assert "gpt-4o-2024-08-06" in mail.content.decode()
    again = await evaluator.evaluate_once(tomorrow + timedelta(minutes=1))
    assert again.fired == [] and len(receiver.requests) == 2  # each alert once


def test_thresholds_and_scope_are_validated(stack: StackFactory) -> None:
    s = stack()
    engine, now = s.gateway.engine, datetime.now(UTC)
    for scope, params, text in (
        ("project:a", {}, "scope global only"),
        ("global", {"threshold_pct": 101}, "threshold_pct must be within"),
        ("global", {"days": "x"}, "days must be a number"),
        ("global", {"window": "1h"}, "unknown parameter"),
    ):
        try:
            add_rule(engine, f"r{len(text)}", "reconciliation_drift", scope, params, (), now)
        except ValueError as exc:
            assert text in str(exc)
        else:
            raise AssertionError(f"{params} on {scope} must be refused")
