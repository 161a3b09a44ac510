"""A budget definition as a validated value, and the checks that keep a set of them sane."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from collector.budgets._errors import BudgetConfigError
from collector.budgets._period import Period
from collector.budgets._scope import Scope

DEFAULT_THRESHOLDS: tuple[int, ...] = (50, 80, 100)
MAX_THRESHOLD = 1000  # percent; above 100 warns of overspend on soft budgets
MAX_AMOUNT = Decimal(100_000_000)  # USD; money columns hold < 9.2e8 USD on SQLite


class Mode(StrEnum):
    SOFT = "soft"  # alert only
    HARD = "hard"  # block before spending


@dataclass(frozen=True, slots=True)
class BudgetSpec:
    """One budget; construction validates it (BudgetConfigError on the first problem)."""

    name: str
    scope: Scope
    period: Period
    amount_usd: Decimal
    mode: Mode
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    id: int | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise BudgetConfigError("budget name must not be empty")
        if not self.amount_usd.is_finite() or self.amount_usd <= 0:
            raise BudgetConfigError(f"budget amount must be positive, got {self.amount_usd}")
        if self.amount_usd > MAX_AMOUNT:
            raise BudgetConfigError(f"budget amount must be at most {MAX_AMOUNT} USD")
        check_thresholds(self.thresholds)

    @property
    def identity(self) -> tuple[str, str, Mode]:
        """What two budgets may not share: scope, period and mode."""
        return (str(self.scope), str(self.period), self.mode)


def parse_amount(text: str) -> Decimal:
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise BudgetConfigError(f"bad amount {text!r}; expected a number of USD") from None
    if not amount.is_finite() or amount <= 0:
        raise BudgetConfigError(f"amount must be positive, got {text.strip()}")
    return amount


def parse_thresholds(text: str) -> tuple[int, ...]:
    """``"50,80,100"`` → (50, 80, 100), checked."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise BudgetConfigError(
            f"bad thresholds {text!r}; expected percents like 50,80,100"
        ) from None
    check_thresholds(values)
    return values


def check_thresholds(values: Sequence[int]) -> None:
    if not values:
        raise BudgetConfigError("at least one threshold is needed")
    for value in values:
        if not 0 < value <= MAX_THRESHOLD:
            raise BudgetConfigError(f"threshold {value}% is out of range 1..{MAX_THRESHOLD}")
    if any(b <= a for a, b in itertools.pairwise(values)):
        listed = ",".join(str(v) for v in values)
        raise BudgetConfigError(f"thresholds must be strictly ascending, got {listed}")


def check_no_overlap(new: BudgetSpec, existing: Iterable[BudgetSpec]) -> None:
    """Refuse a second budget with the same scope, period and mode (ambiguous limits)."""
    for other in existing:
        if other.name == new.name:
            continue
        if other.identity == new.identity:
            scope, period, mode = new.identity
            raise BudgetConfigError(
                f"budget {other.name!r} already covers {scope} per {period} ({mode}); "
                "update it instead"
            )
