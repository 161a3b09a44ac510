"""Render reports as CSV or JSON text: money as exact decimal strings, unknown cost empty."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import Any, Literal

from collector.reports._cells import csv_safe
from collector.reports.chargeback import Chargeback, ChargebackRow
from collector.reports.focus import FOCUS_COLUMNS, iso, money_text

Format = Literal["csv", "json", "focus"]
FORMATS: tuple[Format, ...] = ("csv", "json", "focus")
CHARGEBACK_COLUMNS = (
    "group", "requests", "prompt_tokens", "cached_tokens", "completion_tokens",
    "reasoning_tokens", "cost_usd", "unpriced_requests", "cache_hits", "cache_saved_usd",
)  # fmt: skip


def _cells(row: ChargebackRow) -> dict[str, Any]:
    """CSV cells: an unknown value (cost, untracked token kinds) is an empty cell."""
    cells = asdict(row)
    cells["cost_usd"] = money_text(row.cost_usd)
    cells["cache_saved_usd"] = money_text(row.cache_saved_usd)
    return {k: "" if v is None else v for k, v in cells.items()}


def _json_cells(row: ChargebackRow) -> dict[str, Any]:
    """JSON values: an unknown value is ``null``, money an exact decimal string."""
    cells = asdict(row)
    return {k: money_text(v) if isinstance(v, Decimal) else v for k, v in cells.items()}


def chargeback_json(report: Chargeback) -> str:
    """``{month, group_by, period_start, period_end, rows: [...], totals: {...}}``; unknown
    values (an unpriced group's cost, token kinds tags do not track) are ``null``."""
    body = {
        "month": report.month,
        "group_by": report.group_by,
        "period_start": iso(report.start),
        "period_end": iso(report.end),
        "rows": [_json_cells(r) for r in report.rows],
        "totals": _json_cells(report.totals),
    }
    return json.dumps(body, indent=2) + "\n"


def chargeback_csv(report: Chargeback) -> str:
    """One line per group, then a ``(total)`` line that is the exact sum of those above."""
    return _csv(CHARGEBACK_COLUMNS, [_cells(r) for r in (*report.rows, report.totals)])


def focus_csv(rows: Sequence[dict[str, str]]) -> str:
    return _csv(FOCUS_COLUMNS, rows)


def _csv(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: csv_safe(v) for k, v in row.items()} for row in rows)
    return out.getvalue()
