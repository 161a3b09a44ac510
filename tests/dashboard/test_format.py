"""Money keeps its meaning at every size; counts, ratios and durations read naturally."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dashboard import format as fmt


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1234.567"), "$1,234.57"),
        (Decimal("0.42"), "$0.42"),
        (Decimal("0.01"), "$0.01"),
        (Decimal("0.005"), "$0.005"),
        (Decimal("0.000027"), "$0.000027"),
        (Decimal("0.0000271234"), "$0.0000271"),
        (Decimal("0.0099999"), "$0.01"),
        (Decimal("0"), "$0.00"),
        (Decimal("-0.5"), "-$0.50"),
        (None, "—"),
    ],
)
def test_money_shows_small_costs_with_significant_digits(
    value: Decimal | None, expected: str
) -> None:
    assert fmt.money(value) == expected


def test_money_decimals() -> None:
    assert fmt.money_decimals(Decimal("12")) == 2
    assert fmt.money_decimals(Decimal("0.000027")) == 7
    assert fmt.money_decimals(Decimal("0.0000000001")) == 10  # never past the stored scale


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("9999.99"), "$9,999.99"),
        (Decimal("12345.678"), "$12.35k"),
        (Decimal("3400000"), "$3.40M"),
        (Decimal("0.000031"), "$0.000031"),
    ],
)
def test_money_compact(value: Decimal, expected: str) -> None:
    assert fmt.money_compact(value) == expected


def test_counts_ratios_durations() -> None:
    assert fmt.count(1234567) == "1,234,567"
    assert fmt.count_compact(10_400_000) == "10.4M"
    assert fmt.count_compact(950) == "950"
    assert fmt.percent(0.995) == "99.5%"
    assert fmt.percent(0.00004) == "0.004%"
    assert fmt.percent(0) == "0.0%"
    assert fmt.percent(None) == "—"
    assert fmt.duration_ms(850) == "850 ms"
    assert fmt.duration_ms(1250) == "1.25 s"
    assert fmt.duration_ms(125_000) == "2 min 05 s"
    assert fmt.rate(42, "tok/s") == "42.0 tok/s"
