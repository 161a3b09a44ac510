"""A reconciliation as JSON (money as exact decimal strings) and as CSV rows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from collector.reconcile._types import Figures, Line, Reconciliation, Tokens, Unmetered
from collector.units import MONEY_UNIT

MONEY = MONEY_UNIT
RATIO = Decimal("0.000001")


def usd_text(value: Decimal) -> str:
    return format(value.quantize(MONEY), "f")


def ratio_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.quantize(RATIO), "f")


def figures_json(f: Figures) -> dict[str, Any]:
    return {
        "billed_usd": usd_text(f.billed_usd),
        "metered_usd": usd_text(f.metered_usd),
        "difference_usd": usd_text(f.difference_usd),
        "coverage": ratio_text(f.coverage),
        "unmetered_usd": usd_text(f.unmetered_usd),
    }


def tokens_json(t: Tokens) -> dict[str, int]:
    return {"input": t.input, "cached": t.cached, "output": t.output}


def line_json(line: Line, group_by: str) -> dict[str, Any]:
    return {
        "date": line.day.isoformat(),
        group_by: line.group,
        "billed_usd": usd_text(line.billed_usd),
        "metered_usd": usd_text(line.metered_usd),
        "difference_usd": usd_text(line.difference_usd),
        "billed_tokens": tokens_json(line.billed_tokens),
        "metered_tokens": tokens_json(line.metered_tokens),
        "billed_requests": line.billed_requests,
        "metered_requests": line.metered_requests,
        "kind": line.kind.value,
        "explanation": line.explanation,
    }


def unmetered_json(u: Unmetered) -> dict[str, Any]:
    return {
        "api_key_id": u.api_key_id,
        "project_id": u.project_id,
        "billed_usd": usd_text(u.billed_usd),
        "tokens": tokens_json(u.tokens),
        "requests": u.requests,
        "days": [d.isoformat() for d in u.days],
    }


def as_json(rec: Reconciliation) -> dict[str, Any]:
    """The one JSON object ``spendscope reconcile --json`` prints."""
    by = rec.group_by.value
    return {
        "from": rec.start.isoformat(),
        "to": rec.end.isoformat(),
        "group_by": by,
        "totals": figures_json(rec.totals),
        "days": [{"date": d.isoformat(), **figures_json(f)} for d, f in rec.days],
        "lines": [line_json(line, by) for line in rec.lines],
        "unmetered": [unmetered_json(u) for u in rec.unmetered],
        "notes": list(rec.notes),
    }


CSV_COLUMNS = (
    "date", "group", "billed_usd", "metered_usd", "difference_usd", "billed_input_tokens",
    "metered_input_tokens", "billed_cached_tokens", "metered_cached_tokens",
    "billed_output_tokens", "metered_output_tokens", "billed_requests", "metered_requests",
    "kind", "explanation",
)  # fmt: skip


def csv_rows(rec: Reconciliation) -> list[dict[str, Any]]:
    """One row per line (the dashboard's CSV download)."""
    return [
        {
            "date": line.day.isoformat(),
            "group": line.group,
            "billed_usd": usd_text(line.billed_usd),
            "metered_usd": usd_text(line.metered_usd),
            "difference_usd": usd_text(line.difference_usd),
            "billed_input_tokens": line.billed_tokens.input,
            "metered_input_tokens": line.metered_tokens.input,
            "billed_cached_tokens": line.billed_tokens.cached,
            "metered_cached_tokens": line.metered_tokens.cached,
            "billed_output_tokens": line.billed_tokens.output,
            "metered_output_tokens": line.metered_tokens.output,
            "billed_requests": line.billed_requests,
            "metered_requests": line.metered_requests,
            "kind": line.kind.value,
            "explanation": line.explanation,
        }
        for line in rec.lines
    ]
