"""The ``budget_exhaustion`` rule's parameters and its one measurement: each budget's recent
spend rate (the evaluation itself sits beside ``forecast_overrun`` in ``_rules``).

``rate_window`` is a trailing duration (``24h`` by default: a whole day, so the daily rhythm
does not inflate the rate at noon) or ``period`` for the average since the period began.
Rollups are hourly, so the window's start is widened to its whole hour and the rate divides
by the time actually covered.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import Engine

from collector.alerts._common import parse_duration
from collector.alerts._types import AlertConfigError
from collector.budgets import BudgetSpec, Window, recorded_spend
from collector.units import MONEY_UNIT

EXHAUSTION_DEFAULTS: dict[str, Any] = {"budget": None, "margin": "1d", "rate_window": "24h"}
PERIOD_RATE = "period"


def check_exhaustion(params: dict[str, Any]) -> dict[str, Any]:
    parse_duration(params["margin"])
    if params["rate_window"] != PERIOD_RATE:
        try:
            parse_duration(params["rate_window"])
        except AlertConfigError:
            raise AlertConfigError(
                f"bad rate_window {params['rate_window']!r}; use a duration (6h, 24h, 7d) "
                "or 'period'"
            ) from None
    return params


def spend_rates(
    engine: Engine, budgets: Iterable[BudgetSpec], rate_window: str, now: datetime
) -> dict[str, Decimal]:
    """USD per hour each budget's scope spent over the trailing ``rate_window``."""
    if rate_window == PERIOD_RATE:
        return {}
    start = (now - parse_duration(rate_window)).replace(minute=0, second=0, microsecond=0)
    hours = Decimal((now - start).total_seconds()) / 3600
    rates = {}
    with engine.connect() as conn:
        for b in budgets:
            spent = recorded_spend(conn, b.scope, Window(start, now))
            rates[b.name] = (spent / hours).quantize(MONEY_UNIT, ROUND_HALF_EVEN)
    return rates
