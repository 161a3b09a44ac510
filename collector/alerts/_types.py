"""Values of the alerts domain: rules, what they measure, and the alerts they raise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from collector.anomaly import Finding
from collector.budgets import BudgetStatus, Scope
from collector.errors import SpendscopeError
from collector.reconcile._types import Reconciliation


class AlertConfigError(SpendscopeError, ValueError):
    """An alert rule or channel is misconfigured; one line naming the problem."""


class RuleKind(StrEnum):
    BUDGET_THRESHOLD = "budget_threshold"  # a budget crossed one of its thresholds
    FORECAST_OVERRUN = "forecast_overrun"  # run-rate forecast exceeds the budget
    SLO_BURN_RATE = "slo_burn_rate"  # multiwindow error-budget burn (SRE Workbook)
    ERROR_RATE = "error_rate"  # share of failing requests in a short window
    LATENCY_P95 = "latency_p95"  # p95 latency of successful requests above a threshold
    UNPRICED_TRAFFIC = "unpriced_traffic"  # requests to models without a known price
    RECORDER_HEALTH = "recorder_health"  # the record lags, quarantined or dropped events
    SPEND_ANOMALY = "spend_anomaly"  # a scope's recent spend far above its usual for the hour
    BUDGET_EXHAUSTION = "budget_exhaustion"  # at today's rate a budget runs out well before its end
    RECONCILIATION_DRIFT = "reconciliation_drift"  # OpenAI's bill differs from the record
    UNMETERED_SPEND = "unmetered_spend"  # billed spend under keys the gateway never used
    UPSTREAM_KEY_REVOKED = "upstream_key_revoked"  # the upstream refused a server-held key


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """Where to send: ``kind`` is slack | webhook | email | file; ``target`` a URL/address/path."""

    kind: str
    target: str

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.target}"


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    name: str
    kind: RuleKind
    scope: Scope
    params: Mapping[str, Any]
    channels: tuple[ChannelConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class Traffic:
    """Requests of one scope over one trailing window."""

    by_outcome: Mapping[str, int] = field(default_factory=dict)
    p95_ms: float | None = None  # of successful requests
    unpriced_by_model: Mapping[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return sum(self.by_outcome.values())


@dataclass(frozen=True, slots=True)
class Measurements:
    """What the shell measured for one rule: budget statuses and/or traffic per window."""

    budgets: Mapping[str, BudgetStatus] = field(default_factory=dict)
    traffic: Mapping[timedelta, Traffic] = field(default_factory=dict)
    slo_target: str | None = None  # the scope's own target (a project's), if any
    recorder: Mapping[str, str] = field(default_factory=dict)  # why the record is not whole
    findings: tuple[Finding, ...] = ()  # members whose recent spend is unusual
    rates: Mapping[str, Decimal] = field(default_factory=dict)  # budget → recent USD per hour
    reconciliation: Reconciliation | None = None  # the stored bill against the record
    # (upstream, key's last four) → tries the upstream refused with 401/403 in the window
    refused_keys: Mapping[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Alert:
    """A condition that holds now; ``dedup_key`` = rule + scope + period + threshold."""

    rule_id: int
    rule_name: str
    kind: RuleKind
    dedup_key: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
