"""Exact money's unit is defined once (collector/units.py) and imported everywhere else."""

from __future__ import annotations

import re
from pathlib import Path

from collector.units import MONEY_SCALE, MONEY_UNIT

ROOT = Path(__file__).resolve().parent.parent
_REDEFINED = re.compile(r"""Decimal\(\s*["'](1e-10|1E-10|0\.0000000001)["']\s*\)""")


def test_the_unit_is_one_ten_billionth_of_a_dollar() -> None:
    assert MONEY_UNIT.as_tuple().exponent == -MONEY_SCALE == -10


def test_no_module_defines_the_money_unit_again() -> None:
    again = [
        f"{path.relative_to(ROOT)}:{n}"
        for package in ("collector", "dashboard")
        for path in (ROOT / package).rglob("*.py")
        if path.name != "units.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if _REDEFINED.search(line)
    ]
    assert not again, "use collector.units.MONEY_UNIT: " + ", ".join(again)
