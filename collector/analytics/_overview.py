"""The overview page's headline numbers, in two rollup queries (and the SLO targets)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import Engine

from collector.analytics import slo
from collector.analytics._model import Filters, OverviewStats
from collector.analytics._reliability import slo_targets
from collector.analytics._sql import ZERO, grouped, label, money, source_for
from collector.histogram import LATENCY_COLUMNS, percentile
from collector.usage import ANSWERED_OUTCOMES

_TICK = timedelta(microseconds=1)


def _period_spend(engine: Engine, f: Filters, now: datetime) -> tuple[Decimal, Decimal]:
    """Spend since the start of ``now``'s UTC day and month (whole hours), per day summed."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    end = max(now, day + _TICK)  # a non-empty range even at midnight
    window = Filters(month, end, f.project_ids, f.api_key_ids, f.end_users, f.models, f.tags)
    with engine.connect() as conn:
        per_day = grouped(conn, window, (), ("cost_usd",), table=source_for(f), bucket="day")
    today = sum((money(c) for (ts,), (c,) in per_day.items() if ts == day), ZERO)
    return today, sum((money(c) for (c,) in per_day.values()), ZERO)


def _tag_overview(engine: Engine, f: Filters, now: datetime) -> OverviewStats:
    """Under a tag filter only spend, requests and outcomes are known (tag rollups)."""
    with engine.connect() as conn:
        sums = grouped(conn, f, ("outcome",), ("requests", "cost_usd"), table=source_for(f))
    rows = [(str(o), int(n or 0), money(cost)) for (o,), (n, cost) in sums.items()]
    requests = sum(n for _, n, _ in rows)
    failed = sum(n for o, n, _ in rows if o not in ANSWERED_OUTCOMES)
    today, mtd = _period_spend(engine, f, now)
    return OverviewStats(
        spend_today_usd=today,
        spend_month_to_date_usd=mtd,
        spend_in_range_usd=sum((cost for _, _, cost in rows), ZERO),
        requests=requests,
        error_rate=float(Fraction(failed, requests)) if requests else None,
        p95_latency_ms=None,
        error_budget_remaining=None,
        retry_success_rate=None,
        unpriced_requests=None,
        unpriced_models=(),
    )


@dataclass(slots=True)
class _Range:
    """What the range query sums, folded over (project, outcome, model) rows."""

    by_project: dict[int, dict[str, int]] = field(default_factory=dict)
    retried: int = 0
    rescued: int = 0
    unpriced: int = 0
    cost: Decimal = ZERO
    unpriced_models: set[str] = field(default_factory=set)

    def add(self, row: Sequence[Any]) -> None:
        pid, outcome, model, requests, retried, rescued, unpriced, cost = row[:8]
        outcomes = self.by_project.setdefault(int(pid), {})
        outcomes[str(outcome)] = outcomes.get(str(outcome), 0) + int(requests or 0)
        self.retried += int(retried or 0)
        self.rescued += int(rescued or 0)
        self.unpriced += int(unpriced or 0)
        self.cost += money(cost)
        if unpriced:
            self.unpriced_models.add(label(model))


_KEYS = ("project_id", "outcome", "model")
_SUMS = ("requests", "retried_requests", "retry_rescued", "unpriced_requests", "cost_usd")


def overview(engine: Engine, f: Filters, now: datetime) -> OverviewStats:
    """Headline numbers for the overview page (see ``OverviewStats`` for each meaning)."""
    if f.tags:
        return _tag_overview(engine, f, now)
    acc = _Range()
    with engine.connect() as conn:
        for key, values in grouped(conn, f, _KEYS, _SUMS).items():
            acc.add((*key, *values))
        # the histogram summed apart, ungrouped: the grouped sums above then come from a
        # narrow covering index of the daily rollups (migration 0009), with no wide sort
        latency = [int(v or 0) for v in grouped(conn, f, (), LATENCY_COLUMNS).get((), [])]
    targets = slo_targets(engine)
    scopes = [
        (slo.slo_counts(outcomes), targets[pid][1] if pid in targets else slo.DEFAULT_SLO)
        for pid, outcomes in acc.by_project.items()
    ]
    requests = sum(sum(o.values()) for o in acc.by_project.values())
    successes = sum(o.get(a, 0) for o in acc.by_project.values() for a in ANSWERED_OUTCOMES)
    today, mtd = _period_spend(engine, f, now)
    return OverviewStats(
        spend_today_usd=today,
        spend_month_to_date_usd=mtd,
        spend_in_range_usd=acc.cost,
        requests=requests,
        error_rate=float(Fraction(requests - successes, requests)) if requests else None,
        p95_latency_ms=percentile(latency, 0.95),
        error_budget_remaining=slo.as_float(slo.pooled_budget_remaining(scopes)),
        retry_success_rate=slo.as_float(slo.retry_success_rate(acc.retried, acc.rescued)),
        unpriced_requests=acc.unpriced,
        unpriced_models=tuple(sorted(acc.unpriced_models)),
    )
