"""Budget status and forecast: pure, exact arithmetic on Decimal amounts.

Forecast method (linear run rate): rate = spent / elapsed since the window start;
projected = spent + rate × (window end − now). Early in a window this is noisy, so the
forecast carries ``elapsed_fraction``; the forecast alert rule ignores it below a minimum.

Exhaustion: at a rate r (USD/hour), what remains runs out at now + remaining ÷ r.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

from collector.budgets._period import Window
from collector.budgets._spec import BudgetSpec
from collector.units import MONEY_UNIT

_MONEY_QUANTUM = MONEY_UNIT  # the database stores money at 1e-10 USD
_PCT_QUANTUM = Decimal("0.01")
_HUNDRED = Decimal(100)
_HORIZON_S = Decimal(100 * 366 * 86400)  # beyond a century "never" is the honest answer


@dataclass(frozen=True, slots=True)
class Forecast:
    projected_usd: Decimal
    rate_usd_per_hour: Decimal
    elapsed_fraction: Decimal


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """Where one budget stands in its current window."""

    budget: BudgetSpec
    window: Window
    spent_usd: Decimal
    reserved_usd: Decimal
    remaining_usd: Decimal  # amount − spent − reserved; negative when overspent
    percent: Decimal  # spent / amount × 100, two decimals
    crossed: tuple[int, ...]  # thresholds at or below ``percent``
    forecast: Forecast


def forecast(spent: Decimal, window: Window, now: datetime) -> Forecast:
    """Linear run-rate projection of spend to the end of the window."""
    total = Decimal(window.length.total_seconds())
    elapsed_s = min(max(Decimal((now - window.start).total_seconds()), Decimal(0)), total)
    if elapsed_s == 0:
        return Forecast(spent, Decimal(0), Decimal(0))
    rate_per_s = spent / elapsed_s
    projected = spent + rate_per_s * (total - elapsed_s)
    return Forecast(
        projected_usd=projected.quantize(_MONEY_QUANTUM, ROUND_HALF_EVEN),
        rate_usd_per_hour=(rate_per_s * 3600).quantize(_MONEY_QUANTUM, ROUND_HALF_EVEN),
        elapsed_fraction=elapsed_s / total,
    )


def exhaustion_at(remaining: Decimal, rate_usd_per_hour: Decimal, now: datetime) -> datetime | None:
    """When ``remaining`` USD runs out at the given rate (to the second, rounded up): ``now``
    when nothing remains, None when nothing is being spent."""
    if remaining <= 0:
        return now
    if rate_usd_per_hour <= 0:
        return None
    seconds = (remaining * 3600 / rate_usd_per_hour).to_integral_value(ROUND_CEILING)
    return None if seconds > _HORIZON_S else now + timedelta(seconds=int(seconds))


def evaluate(
    budget: BudgetSpec, window: Window, spent: Decimal, reserved: Decimal, now: datetime
) -> BudgetStatus:
    """Spent/reserved/remaining, percent used, thresholds crossed and the forecast."""
    percent = (spent / budget.amount_usd * _HUNDRED).quantize(_PCT_QUANTUM, ROUND_HALF_EVEN)
    exact_percent = spent * _HUNDRED
    crossed = tuple(t for t in budget.thresholds if exact_percent >= budget.amount_usd * t)
    return BudgetStatus(
        budget=budget,
        window=window,
        spent_usd=spent,
        reserved_usd=reserved,
        remaining_usd=budget.amount_usd - spent - reserved,
        percent=percent,
        crossed=crossed,
        forecast=forecast(spent, window, now),
    )
