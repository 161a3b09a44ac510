"""The alert evaluator: measure → evaluate rules (pure) → claim → deliver → resolve.

Run one per deployment or one per gateway process: claims make each transition (fired,
resolved) happen once across all of them. ``trigger()`` wakes ``run_forever`` at once, e.g.
when admission sees a budget cross a threshold. Delivery is at most once: a process that dies
between claiming and sending loses that notice (the event row still records it).
Measurements read ``read_engine`` (the read replica, when one is configured); rules, budgets
and every claim and resolution use the primary's ``engine``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from collector.alerts._anomaly_rule import measure_anomalies
from collector.alerts._deliver import Notice, deliver_all
from collector.alerts._measure import measure
from collector.alerts._reconcile import RECONCILE_KINDS
from collector.alerts._reconcile import measure as measure_reconcile
from collector.alerts._rules import evaluate_rule
from collector.alerts._store import (
    FiringEvent,
    claim,
    firing_events,
    load_rules,
    record_deliveries,
    resolve,
)
from collector.alerts._types import Alert, Measurements, Rule, RuleKind
from collector.anomaly import HistoryCache
from collector.budgets import BudgetSpec, load_budgets, parse_timezone
from collector.reconcile import ownership
from collector.settings import Settings

_log = logging.getLogger("collector.alerts")


@dataclass(slots=True)
class EvaluationReport:
    fired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _body(
    event: str, rule: Rule, key: str, text: str, details: Any, now: datetime
) -> dict[str, Any]:
    return {
        "event": event, "rule": rule.name, "kind": rule.kind.value, "scope": str(rule.scope),
        "dedup_key": key, "message": text, "details": dict(details), "at": now.isoformat(),
    }  # fmt: skip


class AlertEvaluator:
    """Evaluates every enabled rule; ``evaluate_once(now)`` for tests and cron-like use."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        recorder_health: Callable[[], Mapping[str, str]] | None = None,
        *,
        read_engine: Engine | None = None,
    ) -> None:
        self._engine = engine  # rules, budgets and the alert state: claims must be exact
        self._read = read_engine or engine  # what rules measure: spend, traffic, the bill
        self._recorder_health = recorder_health  # this process's recorder, for its rules
        self._settings = settings
        self._tz = parse_timezone(settings.timezone)
        self._history = HistoryCache()  # spend_anomaly's earlier weeks, read once an hour
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def trigger(self) -> None:
        """Evaluate now instead of at the next tick (safe from any thread)."""
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._wake.set)
        else:
            self._wake.set()

    async def run_forever(self, interval: float | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        period = interval if interval is not None else self._settings.alert_interval_s
        while True:
            try:
                await self.evaluate_once(datetime.now(UTC))
            except Exception:
                _log.exception("alert evaluation failed; retrying next tick")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=period)
            self._wake.clear()

    async def evaluate_once(self, now: datetime) -> EvaluationReport:
        report = EvaluationReport()
        rules = await asyncio.to_thread(load_rules, self._engine)
        budgets = await asyncio.to_thread(load_budgets, self._engine)
        async with aiohttp.ClientSession() as http:
            for rule in rules:
                # Read before measuring: an alert another process fires while this one
                # measures is newer than this measurement, and must not be resolved by it.
                firing = await asyncio.to_thread(firing_events, self._engine, rule.id)
                try:
                    m = await self._measure(rule, budgets, now)
                except LookupError as exc:
                    report.errors.append(str(exc))
                    continue
                alerts = evaluate_rule(rule, m, now)
                await self._fire(http, rule, alerts, now, report)
                active = {a.dedup_key for a in alerts}
                await self._resolve(http, rule, firing, active, now, report)
        return report

    async def _measure(self, rule: Rule, budgets: list[BudgetSpec], now: datetime) -> Measurements:
        """The rule's measurements from the replica; from the primary while the replica cannot
        be reached (a replica outage must not silence the alerts)."""
        try:
            return await self._measure_on(self._read, rule, budgets, now)
        except OperationalError as exc:
            if self._read is self._engine:
                raise
            _log.warning("alerts: read replica unreachable, measuring on the primary: %s", exc)
            return await self._measure_on(self._engine, rule, budgets, now)

    async def _measure_on(
        self, engine: Engine, rule: Rule, budgets: list[BudgetSpec], now: datetime
    ) -> Measurements:
        if rule.kind in RECONCILE_KINDS:
            owners = ownership(self._settings)
            return await asyncio.to_thread(measure_reconcile, engine, rule, now, owners)
        if rule.kind is RuleKind.RECORDER_HEALTH:
            probe = self._recorder_health
            return Measurements(recorder=dict(probe()) if probe is not None else {})
        if rule.kind is RuleKind.SPEND_ANOMALY:
            return await asyncio.to_thread(measure_anomalies, engine, rule, now, self._history)
        return await asyncio.to_thread(measure, engine, rule, budgets, now, self._tz)

    async def _fire(
        self, http: aiohttp.ClientSession, rule: Rule, alerts: list[Alert], now: datetime,
        report: EvaluationReport,
    ) -> None:  # fmt: skip
        for alert in alerts:
            event_id = await asyncio.to_thread(claim, self._engine, alert, now)
            if event_id is None:
                continue  # already firing (claimed by us earlier or by another process)
            body = _body("alert.fired", rule, alert.dedup_key, alert.message, alert.details, now)
            await self._send(http, rule, event_id, "fire", Notice(alert.message, body))
            report.fired.append(alert.dedup_key)

    async def _resolve(
        self, http: aiohttp.ClientSession, rule: Rule, firing: list[FiringEvent],
        active: set[str], now: datetime, report: EvaluationReport,
    ) -> None:  # fmt: skip
        """Resolve what was firing before this evaluation measured and no longer holds."""
        for event in firing:
            if event.dedup_key in active:
                continue
            if not await asyncio.to_thread(resolve, self._engine, event, now):
                continue
            await self._send(http, rule, event.id, "resolve", _recovery(rule, event, now))
            report.resolved.append(event.dedup_key)

    async def _send(
        self, http: aiohttp.ClientSession, rule: Rule, event_id: int, phase: str, notice: Notice
    ) -> None:
        results = await deliver_all(http, rule.channels, notice, self._settings)
        for label, result in results.items():
            if not result.ok:
                _log.warning("alert delivery to %s failed: %s", label, result.detail)
        stored = {label: r.as_json() for label, r in results.items()}
        await asyncio.to_thread(record_deliveries, self._engine, event_id, phase, stored)


def _recovery(rule: Rule, event: FiringEvent, now: datetime) -> Notice:
    text = f"Resolved: {event.message}"
    details = {k: v for k, v in event.payload.items() if k not in ("kind", "rule")}
    return Notice(text, _body("alert.resolved", rule, event.dedup_key, text, details, now))
