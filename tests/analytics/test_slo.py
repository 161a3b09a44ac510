"""The SLO and retry math, to exact fractions (docs/design.md, "Meanings that must be exact")."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from collector.analytics import slo


def test_eligible_excludes_client_errors_and_blocked_and_bad_is_upstream_plus_timeout() -> None:
    counts = slo.slo_counts(
        {"success": 90, "client_error": 7, "blocked": 3, "upstream_error": 4, "timeout": 2,
         "cancelled": 1}
    )  # fmt: skip
    assert counts == slo.SloCounts(eligible=97, bad=6)


def test_remaining_and_burn_rate_are_exact() -> None:
    counts = slo.SloCounts(eligible=1000, bad=1)
    assert slo.error_budget_remaining(counts, Decimal("0.995")) == Fraction(4, 5)
    assert slo.burn_rate(counts, Decimal("0.995")) == Fraction(1, 5)


def test_overspent_budget_goes_negative_and_burns_above_one() -> None:
    counts = slo.SloCounts(eligible=11, bad=2)
    assert slo.error_budget_remaining(counts, Decimal("0.995")) == Fraction(-389, 11)
    assert slo.burn_rate(counts, Decimal("0.995")) == Fraction(400, 11)


def test_burn_rate_of_one_spends_exactly_the_budget() -> None:
    counts = slo.SloCounts(eligible=200, bad=2)
    assert slo.burn_rate(counts, Decimal("0.99")) == 1
    assert slo.error_budget_remaining(counts, Decimal("0.99")) == 0


def test_nothing_eligible_is_undefined_not_perfect() -> None:
    empty = slo.SloCounts(eligible=0, bad=0)
    assert slo.error_budget_remaining(empty, Decimal("0.995")) is None
    assert slo.burn_rate(empty, Decimal("0.995")) is None
    assert slo.pooled_budget_remaining([]) is None


@pytest.mark.parametrize("target", [Decimal(1), Decimal(0), Decimal("1.2")])
def test_target_outside_zero_one_is_rejected(target: Decimal) -> None:
    with pytest.raises(ValueError, match="SLO target"):
        slo.burn_rate(slo.SloCounts(10, 1), target)


def test_pooled_budget_weights_each_scope_by_its_own_allowance() -> None:
    scopes = [
        (slo.SloCounts(eligible=11, bad=2), Decimal("0.995")),
        (slo.SloCounts(eligible=200, bad=1), Decimal("0.99")),
    ]
    # allowed bad = 0.005 × 11 + 0.01 × 200 = 2.055; remaining = 1 − 3 / 2.055
    assert slo.pooled_budget_remaining(scopes) == 1 - Fraction(3000, 2055)


def test_retry_success_rate_and_attempts_per_success() -> None:
    assert slo.retry_success_rate(retried=4, rescued=3) == Fraction(3, 4)
    assert slo.retry_success_rate(retried=0, rescued=0) is None
    assert slo.attempts_per_success(attempts=12, successes=8) == Fraction(3, 2)
    assert slo.attempts_per_success(attempts=3, successes=0) is None
    with pytest.raises(ValueError):
        slo.retry_success_rate(retried=1, rescued=2)


def test_as_float_is_the_correctly_rounded_value() -> None:
    assert slo.as_float(Fraction(1, 3)) == 1 / 3
    assert slo.as_float(None) is None
