"""Fetch OpenAI's bill for a range and store it: the one path the CLI and the daily job share."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Engine

from collector.errors import ReconcileError
from collector.reconcile._client import AdminClient, fetch_bill
from collector.reconcile._compare import days_of
from collector.reconcile._store import replace_days
from collector.reconcile._types import Ownership
from collector.settings import Settings


def ownership(settings: Settings) -> Ownership:
    """The gateway's own OpenAI keys and projects, as configured."""
    return Ownership(dict(settings.openai_key_ids), frozenset(settings.openai_project_ids))


def admin_client(settings: Settings, **options: object) -> AdminClient:
    """A client of the admin APIs; a missing admin key is a one-line error."""
    key = settings.openai_admin_key
    if key is None or not key.get_secret_value():
        raise ReconcileError(
            "no OpenAI admin key: set SPENDSCOPE_OPENAI_ADMIN_KEY to an organization admin key"
        )
    return AdminClient(settings.openai_admin_base_url, key.get_secret_value(), **options)  # type: ignore[arg-type]


def fetch_and_store(
    engine: Engine, client: AdminClient, start: date, end: date, now: datetime
) -> int:
    """Fetch every page first, then replace the days in one transaction (nothing half-stored)."""
    items = fetch_bill(client, start, end)
    return replace_days(engine, days_of(start, end), items, now)
