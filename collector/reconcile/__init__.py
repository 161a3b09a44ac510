"""Reconciliation: spendscope's record held against OpenAI's own bill.

OpenAI's Costs and Usage APIs are fetched (``AdminClient``, ``fetch_bill``) and stored in
``bill_lines`` (``replace_days``: a day re-fetched is replaced exactly); ``reconcile`` — a
pure function — compares them with what the gateway metered, per UTC day and model, project
or key, and names every difference: a wrong price, missing requests, or spend under keys the
gateway never used. The queries live in ``collector.analytics``; the daily job in ``_job``.
"""

from collector.reconcile._client import USAGE_ENDPOINTS, AdminClient, fetch_bill, model_of
from collector.reconcile._compare import days_of, reconcile
from collector.reconcile._job import DailyReconciler, claim_day
from collector.reconcile._render import as_json, csv_rows, usd_text
from collector.reconcile._run import admin_client, fetch_and_store, ownership
from collector.reconcile._store import replace_days
from collector.reconcile._types import (
    COSTS,
    BillItem,
    Figures,
    GroupBy,
    Line,
    LineKind,
    MeteredLine,
    Ownership,
    Reconciliation,
    Tokens,
    Unmetered,
)

__all__ = [
    "COSTS",
    "USAGE_ENDPOINTS",
    "AdminClient",
    "BillItem",
    "DailyReconciler",
    "Figures",
    "GroupBy",
    "Line",
    "LineKind",
    "MeteredLine",
    "Ownership",
    "Reconciliation",
    "Tokens",
    "Unmetered",
    "admin_client",
    "as_json",
    "claim_day",
    "csv_rows",
    "days_of",
    "fetch_and_store",
    "fetch_bill",
    "model_of",
    "ownership",
    "reconcile",
    "replace_days",
    "usd_text",
]
