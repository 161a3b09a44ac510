"""The evaluator end to end: recorded traffic → rules → one delivery per dedup key → recovery."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, select

from collector.alerts import (
    AlertEvaluator,
    ChannelConfig,
    EvaluationReport,
    add_rule,
    parse_channel,
)
from collector.budgets import (
    BudgetSpec,
    Mode,
    create_budget,
    delete_budget,
    parse_period,
    parse_scope,
    update_budget,
)
from collector.db import AlertEvent, make_engine, session_scope
from collector.recorder import write_batch
from collector.settings import load_settings
from collector.usage import ASSUMED_NOTE, CACHE_WRITE_NOTE
from tests.alerts.conftest import Receiver, free_port
from tests.factories import make_event, make_project
from tests.support.wait import until

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
SETTINGS = load_settings(alert_webhook_secret="k", alert_http_backoff_ms=1, alert_http_retries=1)


def spend(engine: Engine, project_id: int, usd: str, at: datetime = NOW) -> None:
    write_batch(engine, [make_event(started_at=at - timedelta(hours=1), project_id=project_id,
                                    cost_usd=Decimal(usd))])  # fmt: skip


def hook(receiver: Receiver, path: str = "/hook") -> ChannelConfig:
    return parse_channel("webhook", receiver.base + path, SETTINGS)


def events(engine: Engine) -> list[AlertEvent]:
    with session_scope(engine) as s:
        return list(s.scalars(select(AlertEvent).order_by(AlertEvent.id)))


async def test_budget_threshold_fires_once_then_recovers(
    engine: Engine, receiver: Receiver
) -> None:
    pid = make_project(engine, "acme")
    spec = BudgetSpec(
        "acme", parse_scope("project:acme"), parse_period("month"), Decimal(10), Mode.SOFT
    )
    create_budget(engine, spec, NOW)
    add_rule(engine, "spend", "budget_threshold", "global", {}, (hook(receiver),), NOW)
    spend(engine, pid, "8.5")
    evaluator = AlertEvaluator(engine, SETTINGS)
    first = await evaluator.evaluate_once(NOW)
    assert [k.rsplit("|", 1)[1] for k in first.fired] == ["50", "80"]
    again = await evaluator.evaluate_once(NOW + timedelta(minutes=1))
    assert again.fired == [] and again.resolved == []
    bodies = [json.loads(r.body) for r in receiver.on("/hook")]
    assert [b["event"] for b in bodies] == ["alert.fired", "alert.fired"]
    assert "crossed 80%: $8.50 of $10.00" in bodies[1]["message"]
    update_budget(engine, "acme", NOW, amount_usd=Decimal(16))  # 53 %: the 80 % alert clears
    third = await evaluator.evaluate_once(NOW + timedelta(minutes=2))
    assert len(third.resolved) == 1 and third.resolved[0].endswith("|80")
    assert json.loads(receiver.on("/hook")[-1].body)["event"] == "alert.resolved"
    assert (await evaluator.evaluate_once(NOW + timedelta(minutes=3))).resolved == []
    stored = events(engine)
    assert [e.state for e in stored] == ["firing", "resolved"]
    assert stored[1].deliveries["resolve"][f"webhook:{receiver.base}/hook"]["ok"] is True
    update_budget(engine, "acme", NOW, amount_usd=Decimal(10))  # crosses 80 % again: fires anew
    assert len((await evaluator.evaluate_once(NOW + timedelta(minutes=4))).fired) == 1


async def test_two_evaluators_deliver_each_alert_once(
    migrated_url: str, receiver: Receiver
) -> None:
    engine = make_engine(migrated_url)
    pid = make_project(engine, "acme")
    for i in range(30):
        outcome = "upstream_error" if i % 2 else "success"
        write_batch(engine, [make_event(started_at=NOW - timedelta(minutes=2, seconds=i),
                                        project_id=pid, outcome=outcome)])  # fmt: skip
    add_rule(engine, "errors", "error_rate", "project:acme", {"threshold_pct": 10},
             (hook(receiver),), NOW)  # fmt: skip
    add_rule(engine, "burn", "slo_burn_rate", "project:acme", {}, (hook(receiver, "/burn"),), NOW)

    def run_one() -> list[str]:
        own = make_engine(migrated_url)
        try:
            return asyncio.run(AlertEvaluator(own, SETTINGS).evaluate_once(NOW)).fired
        finally:
            own.dispose()

    results = await asyncio.gather(*(asyncio.to_thread(run_one) for _ in range(4)))
    fired = [key for r in results for key in r]
    assert sorted(fired) == sorted(set(fired)) and len(fired) == 3  # error rate + 2 burn pairs
    assert len(receiver.on("/hook")) == 1
    assert len(receiver.on("/burn")) == 2
    engine.dispose()


async def test_a_dead_channel_is_recorded_and_does_not_block(
    engine: Engine, receiver: Receiver, tmp_path: Path
) -> None:
    pid = make_project(engine, "acme")
    write_batch(engine, [make_event(started_at=NOW - timedelta(minutes=10), project_id=pid,
                                    model_served="homebrew-llm", cost_usd=None,
                                    cost_source="unpriced")])  # fmt: skip
    dead = parse_channel("webhook", f"http://127.0.0.1:{free_port()}/x", SETTINGS)
    jsonl = parse_channel("file", str(tmp_path / "a.jsonl"), SETTINGS)
    add_rule(
        engine, "unpriced", "unpriced_traffic", "global", {}, (dead, hook(receiver), jsonl), NOW
    )
    report = await AlertEvaluator(engine, SETTINGS).evaluate_once(NOW)
    assert len(report.fired) == 1
    assert len(receiver.on("/hook")) == 1
    line = json.loads((tmp_path / "a.jsonl").read_text())
    assert line["details"]["model"] == "homebrew-llm"
    [event] = events(engine)
    fire = event.deliveries["fire"]
    assert fire[dead.label]["ok"] is False and fire[dead.label]["attempts"] == 2
    assert fire[jsonl.label]["ok"] is True


async def test_rule_on_a_missing_budget_is_reported_not_resolved(engine: Engine) -> None:
    spec = BudgetSpec("nope", parse_scope("global"), parse_period("month"), Decimal(10), Mode.SOFT)
    create_budget(engine, spec, NOW)
    add_rule(engine, "ghost", "budget_threshold", "global", {"budget": "nope"},
             (parse_channel("file", "x.jsonl", SETTINGS),), NOW)  # fmt: skip
    assert delete_budget(engine, "nope")  # the budget goes; the rule stays
    report = await AlertEvaluator(engine, SETTINGS).evaluate_once(NOW)
    assert report.errors == ["rule 'ghost' watches budget 'nope', which does not exist"]


class _CountingEvaluator(AlertEvaluator):
    """Counts finished passes, so a test waits for one instead of sleeping."""

    passes = 0

    async def evaluate_once(self, now: datetime) -> EvaluationReport:
        report = await super().evaluate_once(now)
        self.passes += 1
        return report


async def test_trigger_wakes_run_forever(engine: Engine, tmp_path: Path) -> None:
    pid = make_project(engine, "acme")
    spec = BudgetSpec("g", parse_scope("global"), parse_period("month"), Decimal(1), Mode.SOFT)
    create_budget(engine, spec, datetime.now(UTC))
    out = tmp_path / "a.jsonl"
    add_rule(engine, "t", "budget_threshold", "global", {},
             (parse_channel("file", str(out), SETTINGS),), NOW)  # fmt: skip
    evaluator = _CountingEvaluator(engine, SETTINGS)
    task = asyncio.create_task(evaluator.run_forever(interval=3600))
    await until(lambda: evaluator.passes == 1, what="the first pass")
    assert not out.exists()  # nothing spent yet
    spend(engine, pid, "0.6", at=datetime.now(UTC) + timedelta(hours=1))  # started now
    evaluator.trigger()
    await until(lambda: evaluator.passes == 2, what="the triggered pass")  # not the hourly tick
    task.cancel()
    assert json.loads(out.read_text())["details"]["threshold_pct"] == 50


async def test_channel_invalid_at_delivery_fails_alone(engine: Engine, tmp_path: Path) -> None:
    """An email channel whose SMTP host was unset later: a failed delivery, nothing blocked."""
    pid = make_project(engine, "acme")
    spec = BudgetSpec(
        "acme", parse_scope("project:acme"), parse_period("month"), Decimal(10), Mode.SOFT
    )
    create_budget(engine, spec, NOW)
    configured = load_settings(smtp_host="127.0.0.1")
    email = parse_channel("email", "ops@example.com", configured)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    add_rule(engine, "mail", "budget_threshold", "global", {},
             (email, parse_channel("file", str(first), configured)), NOW)  # fmt: skip
    add_rule(engine, "other", "budget_threshold", "global", {},
             (parse_channel("file", str(second), configured),), NOW)  # fmt: skip
    spend(engine, pid, "5.5")
    report = await AlertEvaluator(engine, load_settings(smtp_host=None)).evaluate_once(NOW)
    assert len(report.fired) == 2 and report.errors == []
    assert len(first.read_text().splitlines()) == 1
    assert len(second.read_text().splitlines()) == 1
    by_rule = {e.payload["rule"]: e.deliveries["fire"] for e in events(engine)}
    mail = by_rule["mail"]
    assert mail[email.label]["ok"] is False
    assert "SPENDSCOPE_SMTP_HOST" in mail[email.label]["detail"]
    assert mail[f"file:{first}"]["ok"] is True
    assert by_rule["other"] == {f"file:{second}": {"ok": True, "attempts": 1, "detail": "appended"}}


async def test_an_assumed_snapshot_price_alerts_like_unpriced(
    engine: Engine, tmp_path: Path
) -> None:
    """A dated snapshot priced by its alias is ``estimated``, noted, and alerted on."""
    pid = make_project(engine, "acme")
    note = f"{ASSUMED_NOTE} gpt-5-2099-12-31 is not in the catalog; priced as gpt-5@x"
    assumed = make_event(started_at=NOW - timedelta(minutes=10), project_id=pid,
                         model_served="gpt-5-2099-12-31", cost_usd=Decimal("0.01"),
                         cost_source="estimated", cost_note=note)  # fmt: skip
    counted = make_event(started_at=NOW - timedelta(minutes=9), project_id=pid,
                         model_served="gpt-4o-mini", cost_usd=Decimal("0.01"),
                         cost_source="estimated", cost_note="estimated: stream cut")  # fmt: skip
    write_batch(engine, [assumed, counted])
    jsonl = parse_channel("file", str(tmp_path / "a.jsonl"), SETTINGS)
    add_rule(engine, "unpriced", "unpriced_traffic", "global", {}, (jsonl,), NOW)
    report = await AlertEvaluator(engine, SETTINGS).evaluate_once(NOW)
    assert len(report.fired) == 1
    line = json.loads((tmp_path / "a.jsonl").read_text())
    assert line["details"] == {"model": "gpt-5-2099-12-31", "requests": 1}
    assert "docs/finance.md" in line["message"]


async def test_cache_writes_without_a_write_rate_alert_like_unpriced(
    engine: Engine, tmp_path: Path
) -> None:
    """Cache writes billed at the input rate (no cache-write rate known) are alerted on."""
    pid = make_project(engine, "acme")
    guessed = make_event(started_at=NOW - timedelta(minutes=10), project_id=pid,
                         model_served="gpt-5.5", cost_usd=Decimal("0.01"),
                         cost_source="estimated", cost_note=CACHE_WRITE_NOTE)  # fmt: skip
    write_batch(engine, [guessed])
    jsonl = parse_channel("file", str(tmp_path / "a.jsonl"), SETTINGS)
    add_rule(engine, "unpriced", "unpriced_traffic", "global", {}, (jsonl,), NOW)
    report = await AlertEvaluator(engine, SETTINGS).evaluate_once(NOW)
    assert len(report.fired) == 1
    line = json.loads((tmp_path / "a.jsonl").read_text())
    assert line["details"] == {"model": "gpt-5.5", "requests": 1}
