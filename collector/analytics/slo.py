"""Pure SLO and retry math, exactly as docs/design.md defines it (values in, values out).

Counts are ints and the SLO target a Decimal, so every result is an exact ``Fraction``;
callers convert to float only for display. ``None`` means undefined (nothing to divide by).

- eligible = every request but ``client_error`` and ``blocked``
- bad = ``upstream_error`` + ``timeout``
- error budget remaining = 1 − bad / ((1 − SLO) × eligible)
- burn rate = (bad / eligible) / (1 − SLO)
- retry success rate = retried-and-succeeded / retried
- attempts per success = attempts / successful requests
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

DEFAULT_SLO = Decimal("0.995")
NOT_ELIGIBLE: frozenset[str] = frozenset({"client_error", "blocked"})
BAD: frozenset[str] = frozenset({"upstream_error", "timeout"})


@dataclass(frozen=True, slots=True)
class SloCounts:
    """Eligible and bad request counts of one scope and window."""

    eligible: int
    bad: int

    def __add__(self, other: SloCounts) -> SloCounts:
        return SloCounts(self.eligible + other.eligible, self.bad + other.bad)


def slo_counts(by_outcome: Mapping[str, int]) -> SloCounts:
    """Eligible and bad counts from request counts per outcome."""
    eligible = sum(n for outcome, n in by_outcome.items() if outcome not in NOT_ELIGIBLE)
    bad = sum(n for outcome, n in by_outcome.items() if outcome in BAD)
    return SloCounts(eligible, bad)


def _allowance(slo_target: Decimal) -> Fraction:
    if not 0 < slo_target < 1:
        raise ValueError(f"SLO target must be strictly between 0 and 1, got {slo_target}")
    return 1 - Fraction(slo_target)


def error_budget_remaining(counts: SloCounts, slo_target: Decimal) -> Fraction | None:
    """1 − bad / ((1 − SLO) × eligible); negative once the budget is overspent."""
    if counts.eligible == 0:
        return None
    return 1 - Fraction(counts.bad) / (_allowance(slo_target) * counts.eligible)


def burn_rate(counts: SloCounts, slo_target: Decimal) -> Fraction | None:
    """(bad / eligible) / (1 − SLO): 1 spends the budget exactly over the SLO window."""
    if counts.eligible == 0:
        return None
    return Fraction(counts.bad, counts.eligible) / _allowance(slo_target)


def pooled_budget_remaining(scopes: Iterable[tuple[SloCounts, Decimal]]) -> Fraction | None:
    """Remaining budget of several scopes with their own targets: 1 − Σbad / Σ allowed bad."""
    bad = 0
    allowed = Fraction(0)
    for counts, slo_target in scopes:
        bad += counts.bad
        allowed += _allowance(slo_target) * counts.eligible
    if allowed == 0:
        return None
    return 1 - Fraction(bad) / allowed


def retry_success_rate(retried: int, rescued: int) -> Fraction | None:
    """Requests that needed ≥ 1 retry and finally succeeded ÷ requests that needed ≥ 1 retry."""
    if rescued > retried or rescued < 0:
        raise ValueError("rescued must be within [0, retried]")
    return Fraction(rescued, retried) if retried else None


def attempts_per_success(attempts: int, successes: int) -> Fraction | None:
    """Upstream attempts spent per successful request (1 when nothing ever fails)."""
    return Fraction(attempts, successes) if successes else None


def as_float(value: Fraction | None) -> float | None:
    """The correctly rounded float of an exact ratio, for DataFrames and display."""
    return None if value is None else float(value)
