"""``spend_anomaly`` and ``budget_exhaustion`` end to end: traffic recorded by the recorder,
the evaluator, and the real webhook receiver and SMTP server of ``tests/alerts/conftest``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select, update

from collector.alerts import AlertEvaluator, ChannelConfig, add_rule, parse_channel
from collector.analytics import alert_history
from collector.budgets import BudgetSpec, Mode, create_budget, parse_period, parse_scope
from collector.db import AlertRule
from collector.recorder import write_batch
from collector.settings import Settings, load_settings
from tests.alerts.conftest import Receiver
from tests.factories import make_event, make_key, make_project

NOW = datetime(2026, 11, 10, 3, 10, tzinfo=UTC)  # Tuesday, ten minutes into 03:00
TWO = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def settings(smtp_port: int) -> Settings:
    return load_settings(
        alert_http_backoff_ms=1, alert_http_retries=1, smtp_host="127.0.0.1",
        smtp_port=smtp_port, smtp_from="spendscope@example.com",
    )  # fmt: skip


def spend(engine: Engine, at: datetime, usd: str, **who: Any) -> str:
    event = make_event(started_at=at, cost_usd=Decimal(usd), **who)
    write_batch(engine, [event])
    return event.id


def channels(receiver: Receiver, s: Settings) -> tuple[ChannelConfig, ...]:
    return (
        parse_channel("webhook", receiver.base + "/hook", s),
        parse_channel("email", "oncall@example.com", s),
    )


def seed_keys(engine: Engine) -> tuple[int, int, int]:
    """Two keys of project acme that spent $2.00 in the 02:00 hour of each of 4 earlier weeks."""
    pid = make_project(engine, "acme")
    a, b = make_key(engine, pid, "sk-ss-aaaa"), make_key(engine, pid, "sk-ss-bbbb")
    for k in range(1, 5):
        spend(engine, TWO + timedelta(minutes=15) - k * WEEK, "2", project_id=pid, api_key_id=a,
              end_user="alice")  # fmt: skip
        spend(engine, TWO + timedelta(minutes=20) - k * WEEK, "2", project_id=pid, api_key_id=b,
              end_user="bob")  # fmt: skip
    return pid, a, b


async def test_a_runaway_key_is_reported_with_its_band_and_who_spent(
    engine: Engine, receiver: Receiver, smtp: tuple[int, Any]
) -> None:
    port, inbox = smtp
    s = settings(port)
    pid, a, b = seed_keys(engine)
    big = spend(engine, TWO + timedelta(minutes=5), "20", project_id=pid, api_key_id=a,
                end_user="alice")  # fmt: skip
    spend(engine, TWO + timedelta(minutes=6), "6", project_id=pid, api_key_id=a, end_user="alice")
    spend(engine, TWO + timedelta(minutes=7), "4", project_id=pid, api_key_id=a, end_user="carol")
    spend(engine, TWO + timedelta(minutes=8), "2.10", project_id=pid, api_key_id=b, end_user="bob")
    add_rule(engine, "runaway", "spend_anomaly", "project:acme", {"per": "key", "top": 2},
             channels(receiver, s), NOW)  # fmt: skip
    evaluator = AlertEvaluator(engine, s)

    report = await evaluator.evaluate_once(NOW)
    assert len(report.fired) == 1 and report.fired[0].endswith("|1h|4.5|key:sk-ss-aaaa")
    [hook] = receiver.on("/hook")
    body = json.loads(hook.body)
    assert body["kind"] == "spend_anomaly" and body["event"] == "alert.fired"
    d = body["details"]
    assert d["scope"] == "key:sk-ss-aaaa" and d["complete"] is True
    # history 2, 2, 2, 2 (then 8 weeks before the keys spent): usual 2 (the mean of the middle
    # two), MAD 0 → spread 0.92 (46 % of the usual) → band 0 … 2 + 4.5 × 0.92
    assert (Decimal(d["observed_usd"]), Decimal(d["usual_usd"])) == (Decimal(30), Decimal(2))
    assert Decimal(d["median_usd"]) == 2
    assert (Decimal(d["expected_low_usd"]), Decimal(d["expected_high_usd"])) == (
        Decimal(0),
        Decimal("6.14"),
    )
    assert d["factor"] == "15.00" and d["weeks"] == 4
    assert [(u["user"], Decimal(u["cost_usd"]), u["requests"]) for u in d["top_users"]] == [
        ("alice", Decimal(26), 2), ("carol", Decimal(4), 1)
    ]  # fmt: skip
    assert [r["id"] for r in d["top_requests"]][:1] == [big] and len(d["top_requests"]) == 2
    assert (
        "$30.00 from 2026-11-10 02:00 to 2026-11-10 03:00 UTC, 15.00× the usual"
        in (body["message"])
    )
    assert (
        "expected $0.00–$6.14 (usual $2.00 of the same hours in 4 earlier weeks)"
        in (body["message"])
    )
    [mail] = inbox.messages
    assert mail.rcpt_tos == ["oncall@example.com"]
    assert b"Unusual spend in key:sk-ss-aaaa (in project:acme)" in mail.content
    assert b"alice $26.00 (2 req.)" in mail.content

    again = await evaluator.evaluate_once(NOW + timedelta(minutes=20))
    assert again.fired == [] and again.resolved == []  # still unusual: no repeat
    later = await evaluator.evaluate_once(NOW + timedelta(hours=2))  # [04:00, 05:00) is quiet
    assert len(later.resolved) == 1
    assert json.loads(receiver.on("/hook")[-1].body)["event"] == "alert.resolved"
    assert len(inbox.messages) == 2

    df, total = alert_history(engine)
    assert total == 1
    row = df.iloc[0]
    assert (row["kind"], row["scope"], row["period"]) == ("spend_anomaly", "key: sk-ss-aaaa", "1h")
    assert row["threshold"] == "above usual + 4.5 spreads"


async def test_the_running_hour_alerts_before_it_ends(engine: Engine, receiver: Receiver) -> None:
    s = settings(1025)
    pid, a, _b = seed_keys(engine)
    three = TWO + timedelta(hours=1)
    spend(engine, three + timedelta(minutes=2), "9", project_id=pid, api_key_id=a)
    add_rule(engine, "acme", "spend_anomaly", "project:acme", {},
             (parse_channel("webhook", receiver.base + "/hook", s),), NOW)  # fmt: skip
    report = await AlertEvaluator(engine, s).evaluate_once(NOW)
    assert len(report.fired) == 1 and report.fired[0].endswith("|1h|4.5|")  # the whole project
    d = json.loads(receiver.on("/hook")[0].body)["details"]
    assert d["complete"] is False and d["scope"] == "project:acme"
    assert Decimal(d["observed_usd"]) == 9 and Decimal(d["usual_usd"]) == 0  # 03:00 had no spend
    assert d["factor"] is None and d["end"] == NOW.isoformat()
    assert "so far" in json.loads(receiver.on("/hook")[0].body)["message"]


async def test_rules_made_before_center_existed_keep_the_median(
    engine: Engine, receiver: Receiver
) -> None:
    s = settings(1025)
    pid = make_project(engine, "acme")
    a = make_key(engine, pid, "sk-ss-aaaa")
    for k, usd in enumerate(("0.2", "0.3", "0.3", "2.0", "2.2"), start=1):  # few, dear requests
        spend(engine, TWO + timedelta(minutes=15) - k * WEEK, usd, project_id=pid, api_key_id=a)
    spend(engine, TWO + timedelta(minutes=5), "2.40", project_id=pid, api_key_id=a)
    hook = (parse_channel("webhook", receiver.base + "/hook", s),)
    add_rule(engine, "now", "spend_anomaly", "project:acme", {}, hook, NOW)
    old = add_rule(engine, "before", "spend_anomaly", "project:acme", {}, hook, NOW)
    with engine.begin() as conn:  # as a rule stored before the parameter was added
        stored = conn.execute(select(AlertRule.params).where(AlertRule.id == old)).scalar_one()
        legacy = {k: v for k, v in stored.items() if k != "center"}
        conn.execute(update(AlertRule).where(AlertRule.id == old).values(params=legacy))
    await AlertEvaluator(engine, s).evaluate_once(NOW)
    # median 0.30 → band up to 0.30 + 4.5 × 0.34 = 1.83: $2.40 is unusual; around the trimmed
    # mean 0.8667 (spread 46 % of it, 0.3987) the band reaches 2.66: it is not
    [body] = [json.loads(r.body) for r in receiver.on("/hook")]
    assert body["rule"] == "before" and body["details"]["expected_high_usd"] == "1.8300000000"
    assert "(median $0.30 of the same hours in 5 earlier weeks)" in body["message"]


async def test_rules_made_before_scale_existed_keep_the_mad_of_the_same_hours(
    engine: Engine, receiver: Receiver
) -> None:
    s = settings(1025)
    pid = make_project(engine, "acme")
    a = make_key(engine, pid, "sk-ss-aaaa")
    three = TWO + timedelta(hours=1)
    for k, usd in enumerate(("1.0", "2.0", "1.0", "2.0", "1.5"), start=1):
        spend(engine, TWO + timedelta(minutes=15) - k * WEEK, usd, project_id=pid, api_key_id=a)
        spend(engine, three + timedelta(minutes=15) - k * WEEK, "1", project_id=pid, api_key_id=a)
    spend(engine, TWO + timedelta(minutes=5), "4.70", project_id=pid, api_key_id=a)
    hook = (parse_channel("webhook", receiver.base + "/hook", s),)
    add_rule(engine, "now", "spend_anomaly", "project:acme", {}, hook, NOW)
    old = add_rule(engine, "before", "spend_anomaly", "project:acme", {}, hook, NOW)
    with engine.begin() as conn:  # as a rule stored before the parameter was added
        stored = conn.execute(select(AlertRule.params).where(AlertRule.id == old)).scalar_one()
        legacy = {k: v for k, v in stored.items() if k != "scale"}
        conn.execute(update(AlertRule).where(AlertRule.id == old).values(params=legacy))
    await AlertEvaluator(engine, s).evaluate_once(NOW)
    # 02:00 of earlier weeks: trimmed mean 1.50, median 1.5, deviations .5 .5 .5 .5 0 (MAD
    # 0.5 → 0.7413); 03:00: all 1, deviations 0. Pooled: MAD 0 → spread 46 % of 1.50 = 0.69,
    # band up to 1.50 + 4.5 × 0.69 = 4.605: $4.70 is unusual. The same hours alone: up to
    # 1.50 + 4.5 × 0.7413 = 4.83585: it is not.
    [body] = [json.loads(r.body) for r in receiver.on("/hook")]
    assert body["rule"] == "now" and body["details"]["expected_high_usd"] == "4.6050000000"


async def test_split_per_user_and_tag_scope(engine: Engine, receiver: Receiver) -> None:
    s = settings(1025)
    pid = make_project(engine, "acme")
    for k in range(1, 4):
        spend(engine, TWO - k * WEEK, "1", project_id=pid, end_user="dan", tags={"team": "ml"})
    spend(engine, TWO + timedelta(minutes=1), "1.10", project_id=pid, end_user="dan",
          tags={"team": "ml"})  # fmt: skip
    spend(engine, TWO + timedelta(minutes=2), "12", project_id=pid, end_user="eve",
          tags={"team": "ml"})  # fmt: skip
    spend(engine, TWO + timedelta(minutes=3), "50", project_id=pid, end_user="eve",
          tags={"team": "web"})  # fmt: skip
    hook = (parse_channel("webhook", receiver.base + "/hook", s),)
    add_rule(engine, "users", "spend_anomaly", "global", {"per": "user"}, hook, NOW)
    add_rule(engine, "ml", "spend_anomaly", "tag:team=ml", {"per": "model"}, hook, NOW)
    report = await AlertEvaluator(engine, s).evaluate_once(NOW)
    bodies = sorted((json.loads(r.body) for r in receiver.on("/hook")), key=lambda b: b["rule"])
    assert [(b["rule"], b["details"]["scope"]) for b in bodies] == [
        ("ml", "model:gpt-4o-mini-2024-07-18"), ("users", "user:eve"),
    ]  # fmt: skip
    assert Decimal(bodies[0]["details"]["observed_usd"]) == Decimal("13.10")  # ml only
    assert Decimal(bodies[1]["details"]["observed_usd"]) == Decimal(62)
    assert [u["user"] for u in bodies[0]["details"]["top_users"]] == ["eve", "dan"]
    assert len(report.fired) == 2


async def test_budget_exhaustion_states_the_date(
    engine: Engine, receiver: Receiver, smtp: tuple[int, Any]
) -> None:
    port, inbox = smtp
    s = settings(port)
    pid = make_project(engine, "acme")
    spec = BudgetSpec(
        "acme", parse_scope("project:acme"), parse_period("month"), Decimal(100), Mode.SOFT
    )
    create_budget(engine, spec, NOW)
    spend(engine, datetime(2026, 11, 2, tzinfo=UTC), "10", project_id=pid)
    for hour in range(24):  # the last 24 hours: $1 an hour
        spend(engine, NOW - timedelta(hours=hour, minutes=5), "1", project_id=pid)
    add_rule(engine, "out", "budget_exhaustion", "global", {"margin": "2d"},
             channels(receiver, s), NOW)  # fmt: skip
    await AlertEvaluator(engine, s).evaluate_once(NOW)
    [hook] = receiver.on("/hook")
    body = json.loads(hook.body)
    d = body["details"]
    # $34 spent, $66 left; the last 24 h are read from 03:00 the day before: $24 over 24 h 10 min
    rate = (Decimal(24) / (Decimal(24 * 60 + 10) / 60)).quantize(Decimal("1e-10"))
    assert Decimal(d["rate_usd_per_hour"]) == rate
    assert Decimal(d["remaining_usd"]) == 66
    # 66 / (24 / 24 h 10 min) = 66.4583 h = 239,250 s after NOW
    assert d["exhausts_at"] == "2026-11-12T21:37:30+00:00"
    assert (
        "runs out about 2026-11-12 21:37 UTC at $0.993103/h (its rate over the last 24h)"
        in (body["message"])
    )
    assert b"Budget 'acme'" in inbox.messages[0].content
    df, _ = alert_history(engine)
    assert df.iloc[0]["threshold"] == "runs out over 2d before the end"
