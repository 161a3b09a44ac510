"""The alert evaluator with a read replica: spend is measured on the replica, the alert state
is claimed on the primary (a standby refuses every write, so a claim sent there would fail);
and with several evaluators, one's older measurement never resolves what another just fired."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, text

from collector.alerts import AlertEvaluator, add_rule
from collector.alerts._types import Measurements, Rule
from collector.budgets import BudgetSpec, Mode, create_budget, parse_period, parse_scope
from collector.db import make_engine
from tests.alerts.conftest import Receiver
from tests.alerts.test_evaluator import NOW, SETTINGS, events, hook, spend
from tests.factories import make_project
from tests.support.pg_replica import ReplicatedDatabase, replay_paused
from tests.support.wait import until


def _caught_up(primary: Engine, replica: Engine) -> bool:
    with primary.connect() as conn:
        # the insert position: the test clusters commit asynchronously, so a commit's record
        # may be inserted but not yet written (pg_current_wal_lsn) when this is asked
        lsn = conn.execute(text("SELECT pg_current_wal_insert_lsn()")).scalar_one()
    with replica.connect() as conn:
        behind = conn.execute(
            text("SELECT pg_wal_lsn_diff(CAST(:l AS pg_lsn), pg_last_wal_replay_lsn())"), {"l": lsn}
        ).scalar_one()
    return bool(behind <= 0)


async def test_spend_is_read_from_the_replica_and_claims_go_to_the_primary(
    replicated: ReplicatedDatabase, receiver: Receiver
) -> None:
    primary = make_engine(replicated.primary_url)
    replica = make_engine(replicated.replica_url)
    try:
        pid = make_project(primary, "acme")
        spec = BudgetSpec(
            "acme", parse_scope("project:acme"), parse_period("month"), Decimal(10), Mode.SOFT
        )
        create_budget(primary, spec, NOW)
        add_rule(primary, "spend", "budget_threshold", "global", {}, (hook(receiver),), NOW)
        await until(lambda: _caught_up(primary, replica), 30, "the replica to catch up")
        evaluator = AlertEvaluator(primary, SETTINGS, read_engine=replica)
        replay_paused(replicated.replica_url, True)
        try:
            spend(primary, pid, "8.5", at=NOW)  # on the primary only, for now
            stale = await evaluator.evaluate_once(NOW)
            assert stale.fired == [] and stale.errors == []  # the replica has no spend yet
        finally:
            replay_paused(replicated.replica_url, False)
        await until(lambda: _caught_up(primary, replica), 30, "the replica to catch up")
        fresh = await evaluator.evaluate_once(NOW)
        assert [k.rsplit("|", 1)[1] for k in fresh.fired] == ["50", "80"]
        assert [e.state for e in events(primary)] == ["firing", "firing"]
        assert (await evaluator.evaluate_once(NOW)).fired == []  # claimed once, on the primary
        assert len(receiver.on("/hook")) == 2
    finally:
        primary.dispose()
        replica.dispose()


async def test_a_replica_that_is_down_does_not_silence_alerts(
    engine: Engine, receiver: Receiver
) -> None:
    pid = make_project(engine, "acme")
    spec = BudgetSpec(
        "acme", parse_scope("project:acme"), parse_period("month"), Decimal(10), Mode.SOFT
    )
    create_budget(engine, spec, NOW)
    add_rule(engine, "spend", "budget_threshold", "global", {}, (hook(receiver),), NOW)
    spend(engine, pid, "8.5")
    down = make_engine("postgresql+psycopg://postgres@127.0.0.1:9/nothing")  # refuses at once
    try:
        report = await AlertEvaluator(engine, SETTINGS, read_engine=down).evaluate_once(NOW)
    finally:
        down.dispose()
    assert [k.rsplit("|", 1)[1] for k in report.fired] == ["50", "80"]  # measured on the primary


class _Slow(AlertEvaluator):
    """An evaluator during whose measurement something else happens (``meanwhile``): the
    interleaving of two processes, made deterministic."""

    meanwhile: Callable[[], Awaitable[object]] | None = None

    async def _measure(self, rule: Rule, budgets: list[BudgetSpec], now: datetime) -> Measurements:
        measured = await super()._measure(rule, budgets, now)
        if self.meanwhile is not None:
            await self.meanwhile()
        return measured


async def test_an_alert_fired_during_a_measurement_is_not_resolved_by_it(
    engine: Engine, receiver: Receiver
) -> None:
    """Process A measures 40 %; meanwhile spend reaches 60 % and process B fires the 50 %
    alert; A's older measurement must not resolve it (else it fires again: twice sent)."""
    pid = make_project(engine, "acme")
    spec = BudgetSpec(
        "acme", parse_scope("project:acme"), parse_period("month"), Decimal(10), Mode.SOFT
    )
    create_budget(engine, spec, NOW)
    add_rule(engine, "spend", "budget_threshold", "global", {}, (hook(receiver),), NOW)
    spend(engine, pid, "4")
    other = AlertEvaluator(engine, SETTINGS)

    async def fire_elsewhere() -> object:
        spend(engine, pid, "2")
        return await other.evaluate_once(NOW)

    slow = _Slow(engine, SETTINGS)
    slow.meanwhile = fire_elsewhere
    report = await slow.evaluate_once(NOW)
    assert report.fired == [] and report.resolved == []
    assert [e.state for e in events(engine)] == ["firing"]
    assert [json.loads(r.body)["event"] for r in receiver.on("/hook")] == ["alert.fired"]
