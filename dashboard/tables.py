"""DataFrames → DataTable rows (formatted for people) and CSV downloads (exact, for machines)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from collector.reports import csv_safe
from dashboard import format as fmt

Formatter = Callable[[Any], str]


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def when(value: Any) -> str:
    """A UTC timestamp to the second: ``2026-11-01 12:00:05``."""
    if _missing(value):
        return fmt.MISSING
    moment = value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
    assert isinstance(moment, datetime)  # noqa: S101 - type narrowing: the branch above handled the other types
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def when_ms(value: Any) -> str:
    """A UTC timestamp to the millisecond: ``2026-11-01 12:00:05.250``."""
    if _missing(value):
        return fmt.MISSING
    return f"{pd.Timestamp(value):%Y-%m-%d %H:%M:%S.%f}"[:-3]


def short_id(value: Any) -> str:
    """A request id's last 8 characters (its random part), which tell a page of rows apart."""
    text_ = "" if _missing(value) else str(value)
    return text_ if len(text_) <= 9 else "…" + text_[-8:]


def day(value: Any) -> str:
    return fmt.MISSING if _missing(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def money(value: Any) -> str:
    return fmt.money(None if _missing(value) else Decimal(value))


def count(value: Any) -> str:
    return fmt.MISSING if _missing(value) else fmt.count(int(value))


def duration(value: Any) -> str:
    return fmt.MISSING if _missing(value) else fmt.duration_ms(float(value))


def ratio(value: Any) -> str:
    return fmt.MISSING if _missing(value) else fmt.percent(float(value), 1)


def text(value: Any) -> str:
    return "" if _missing(value) else str(value)


def records(df: pd.DataFrame, formats: Mapping[str, Formatter]) -> list[dict[str, Any]]:
    """Rows for a DataTable: listed columns formatted, others as text."""
    rows = []
    for row in df.to_dict("records"):
        rows.append({str(k): formats.get(str(k), text)(v) for k, v in row.items()})
    return rows


def columns(names: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """DataTable column specs from (id, header) pairs."""
    return [{"id": cid, "name": header} for cid, header in names]


def csv_download(df: pd.DataFrame, stem: str, stamp: datetime) -> dict[str, Any]:
    """A ``dcc.Download`` payload; money stays exact (Decimal's own text), and text cells
    a spreadsheet would run as formulas are neutralised (RFC 4180 line ends, so a carriage
    return inside a cell is quoted rather than splitting the row)."""
    name = f"spendscope-{stem}-{stamp:%Y%m%d-%H%M}.csv"
    safe = df.copy()
    for column in safe.columns:
        if pd.api.types.is_object_dtype(safe[column]) or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(csv_safe)
    safe.columns = [csv_safe(str(c)) for c in safe.columns]
    return {
        "content": safe.to_csv(index=False, lineterminator="\r\n"),  # quotes CR inside cells
        "filename": name,
        "type": "text/csv",
        "base64": False,
    }
