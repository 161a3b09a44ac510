"""A reconciliation as the tables the dashboard shows: per day, the largest differences,
unmetered spend, and every line for the CSV. Money stays ``Decimal`` (object columns)."""

from __future__ import annotations

import pandas as pd

from collector.reconcile import Reconciliation, csv_rows
from collector.reconcile._render import CSV_COLUMNS

DAY_COLUMNS = ["date", "billed_usd", "metered_usd", "difference_usd", "coverage",
               "unmetered_usd"]  # fmt: skip
DIFF_COLUMNS = ["date", "group", "kind", "billed_usd", "metered_usd", "difference_usd",
                "explanation"]  # fmt: skip
UNMETERED_COLUMNS = ["api_key_id", "project_id", "billed_usd", "input_tokens",
                     "output_tokens", "requests", "days"]  # fmt: skip


def reconciliation_days(rec: Reconciliation) -> pd.DataFrame:
    """One row per UTC day: billed, metered, difference, coverage (None: nothing billed)."""
    rows = [
        (d, f.billed_usd, f.metered_usd, f.difference_usd, f.coverage, f.unmetered_usd)
        for d, f in rec.days
    ]
    return pd.DataFrame(rows, columns=DAY_COLUMNS)


def largest_differences(rec: Reconciliation, limit: int = 20) -> pd.DataFrame:
    """Lines that do not match, the largest absolute difference first, with their meaning."""
    lines = sorted((x for x in rec.lines if x.explanation), key=lambda x: -abs(x.difference_usd))
    rows = [
        (x.day, x.group, x.kind.value, x.billed_usd, x.metered_usd, x.difference_usd,
         x.explanation)
        for x in lines[:limit]
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=DIFF_COLUMNS)


def unmetered_spend(rec: Reconciliation) -> pd.DataFrame:
    """Spend per OpenAI key and project the gateway never used (traffic that bypassed it)."""
    rows = [
        (u.api_key_id, u.project_id, u.billed_usd, u.tokens.input, u.tokens.output, u.requests,
         ", ".join(d.isoformat() for d in u.days))
        for u in rec.unmetered
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=UNMETERED_COLUMNS)


def reconciliation_lines(rec: Reconciliation) -> pd.DataFrame:
    """Every line, as ``csv_rows`` (the CSV download)."""
    return pd.DataFrame(csv_rows(rec), columns=list(CSV_COLUMNS))
