"""What the demo configures, through each domain's own API: keys, budgets and alert rules.

Keys come from ``collector.keys.create_key`` (projects are created with them), budgets from
``collector.budgets.create_budget`` and rules from ``collector.alerts.add_rule`` — exactly what
``spendscope keys/budgets/alerts`` do — so the demo exercises the same validation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_UP, Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from collector.alerts import RuleKind, add_rule, parse_channel
from collector.budgets import (
    BudgetSpec,
    Mode,
    budget_statuses,
    create_budget,
    parse_period,
    parse_scope,
    parse_timezone,
)
from collector.db import ApiKey, session_scope
from collector.demo._history import DemoKey
from collector.demo._world import KEYS
from collector.keys import create_key
from collector.settings import Settings

LIVE_TAG = ("source", "live-demo")  # every live request carries it (x-spendscope-tags)
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class DemoKeys:
    """The created keys: ids for the history, raw keys (shown once) for live traffic."""

    keys: tuple[DemoKey, ...]
    raw: dict[str, str]  # key name → raw key
    prefixes: dict[str, str]  # key name → display prefix


def create_demo_keys(engine: Engine, now: datetime) -> DemoKeys:
    keys: list[DemoKey] = []
    raw: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    with session_scope(engine) as session:
        for profile in KEYS:
            created = create_key(
                session, project=profile.project, user=profile.user, tags=profile.tags,
                rpm=None, tpm=None, name=profile.name, now=now,
            )  # fmt: skip
            row = session.get(ApiKey, created.id)
            assert row is not None  # just flushed in this session  # noqa: S101 - type narrowing
            keys.append(DemoKey(profile, created.id, row.project_id))
            raw[profile.name] = created.raw_key
            prefixes[profile.name] = created.prefix
    return DemoKeys(tuple(keys), raw, prefixes)


@dataclass(frozen=True, slots=True)
class BudgetPlan:
    """A demo budget: sized so the spend already recorded is ``used`` of it, or a fixed sum."""

    name: str
    scope: str
    period: str
    mode: Mode
    used: Decimal | None = None
    amount: Decimal | None = None


def budget_plans(prefixes: dict[str, str], live_amount: Decimal) -> tuple[BudgetPlan, ...]:
    """One near its limit, one comfortable, a hard cap, a tiny hard cap on the sandbox key,
    and one sized so that live traffic crosses its thresholds within the first seconds."""
    tag, sandbox = "=".join(LIVE_TAG), prefixes["analytics-sandbox"]
    soft, hard = Mode.SOFT, Mode.HARD
    return (
        BudgetPlan("support-bot monthly", "project:support-bot", "month", soft, Decimal("0.9")),
        BudgetPlan("search weekly", "project:search", "rolling:7d", soft, Decimal("0.55")),
        BudgetPlan("analytics monthly cap", "project:analytics", "month", hard, Decimal("0.7")),
        BudgetPlan("sandbox daily cap", f"key:{sandbox}", "day", hard, amount=Decimal("0.02")),
        BudgetPlan("live demo traffic today", f"tag:{tag}", "day", soft, amount=live_amount),
    )


def _amount(engine: Engine, spec: BudgetSpec, plan: BudgetPlan, now: datetime, tz: str) -> Decimal:
    if plan.amount is not None:
        return plan.amount
    assert plan.used is not None  # noqa: S101 - type narrowing: a plan that ran has its usage
    status = budget_statuses(engine, now, parse_timezone(tz), [spec])[0]
    return max(_CENT, (status.spent_usd / plan.used).quantize(_CENT, ROUND_UP))


def create_demo_budgets(
    engine: Engine, plans: tuple[BudgetPlan, ...], now: datetime, timezone: str
) -> list[BudgetSpec]:
    """Create the budgets; ones sized from recorded spend need the history written first."""
    created = []
    for plan in plans:
        spec = BudgetSpec(
            plan.name, parse_scope(plan.scope), parse_period(plan.period), Decimal(1), plan.mode
        )
        spec = replace(spec, amount_usd=_amount(engine, spec, plan, now, timezone))
        created.append(create_budget(engine, spec, now))
    return created


# (name, kind, scope, params); every rule notifies the demo's JSONL file channel.
RULES: tuple[tuple[str, RuleKind, str, dict[str, Any]], ...] = (
    ("budget thresholds", RuleKind.BUDGET_THRESHOLD, "global", {}),
    ("budget forecast", RuleKind.FORECAST_OVERRUN, "global", {}),
    ("error budget burn", RuleKind.SLO_BURN_RATE, "global", {}),
    ("search error rate", RuleKind.ERROR_RATE, "project:search", {"threshold_pct": 5}),
    ("reasoning latency", RuleKind.LATENCY_P95, "model:o3-mini", {"threshold_ms": 8000}),
    ("unpriced models", RuleKind.UNPRICED_TRAFFIC, "global", {"window": "1h"}),
    ("recording health", RuleKind.RECORDER_HEALTH, "global", {}),
)


def create_demo_rules(
    engine: Engine, settings: Settings, alerts_file: Path, now: datetime
) -> list[str]:
    """Alert rules delivering to a local JSONL file: no Slack, webhook or SMTP needed."""
    channel = parse_channel("file", str(alerts_file), settings)
    for name, kind, scope, params in RULES:
        add_rule(engine, name, kind.value, scope, params, (channel,), now)
    return [name for name, *_ in RULES]
