"""Month-end reports: the chargeback (CSV / JSON) and a FinOps FOCUS export.

Everything is read from the hourly rollups over a UTC calendar month; money stays exact
(decimal strings), and unpriced usage shows as an empty cost with a count, never as $0.
"""

from __future__ import annotations

from sqlalchemy import Engine

from collector.reports._cells import csv_safe
from collector.reports._month import parse_month
from collector.reports.chargeback import Chargeback, ChargebackRow, chargeback, sum_rows
from collector.reports.focus import FOCUS_COLUMNS, focus_rows
from collector.reports.render import (
    CHARGEBACK_COLUMNS,
    FORMATS,
    Format,
    chargeback_csv,
    chargeback_json,
    focus_csv,
)

__all__ = [
    "CHARGEBACK_COLUMNS",
    "FOCUS_COLUMNS",
    "FORMATS",
    "Chargeback",
    "ChargebackRow",
    "Format",
    "chargeback",
    "chargeback_csv",
    "chargeback_json",
    "csv_safe",
    "focus_csv",
    "focus_rows",
    "parse_month",
    "render_report",
    "sum_rows",
]


def render_report(engine: Engine, month: str, group_by: str, fmt: str) -> str:
    """The report text; ValueError (one clear sentence) on a bad month, group-by or format.

    ``focus`` ignores ``group_by`` (its grain is fixed: day × project × model).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "focus":
        return focus_csv(focus_rows(engine, month))
    report = chargeback(engine, month, group_by)
    return chargeback_json(report) if fmt == "json" else chargeback_csv(report)
