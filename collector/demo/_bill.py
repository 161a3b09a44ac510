"""The demo's reconciliation with the mock's bill: the backfilled history is booked in the
mock's ledger (as if the mock had served it), then the bill is fetched and compared.

The mock plants one difference: ``BYPASS_TOKENS`` a day on a key the gateway never used,
which shows as unmetered spend while the gateway's own traffic reconciles to 100 %.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import Engine

from collector.analytics._reconciliation import reconciliation
from collector.demo._procs import DemoError
from collector.mock_upstream._ledger import mock_key_id
from collector.reconcile import Reconciliation, admin_client, fetch_and_store, ownership
from collector.reconcile._render import ratio_text, usd_text
from collector.recorder import UsageEvent
from collector.settings import Settings

ADMIN_KEY = "sk-admin-demo-" + "0" * 16
BYPASS_TOKENS = 400_000


def bill_settings(mock_url: str, upstream_key: str) -> dict[str, Any]:
    """The settings that point a process at the mock's admin APIs, with the gateway's key id."""
    return {
        "openai_admin_key": ADMIN_KEY,
        "openai_admin_base_url": mock_url,
        "openai_key_ids": {"default": mock_key_id(upstream_key)},
    }


class Tally:
    """The history's billable traffic per UTC day, served model and batch flag, summed as the
    events stream past on their way to the recorder (the history is generated lazily)."""

    def __init__(self) -> None:
        self._sums: dict[tuple[date, str, bool], list[Any]] = defaultdict(
            lambda: [0, 0, 0, 0, Decimal(0)]
        )

    def watch(self, events: Iterable[UsageEvent]) -> Iterator[UsageEvent]:
        for e in events:
            if (e.prompt_tokens or e.completion_tokens) and e.model_served is not None:
                acc = self._sums[(e.started_at.astimezone(UTC).date(), e.model_served, e.batch)]
                acc[0] += e.prompt_tokens
                acc[1] += e.cached_tokens
                acc[2] += e.completion_tokens
                acc[3] += 1
                acc[4] += e.cost_usd or Decimal(0)
            yield e

    def bookings(self, upstream_key: str) -> list[dict[str, Any]]:
        return [
            {"day": d.isoformat(), "model": m, "batch": b, "api_key": upstream_key,
             "input_tokens": v[0], "input_cached_tokens": v[1], "output_tokens": v[2],
             "requests": v[3], "usd": str(v[4])}
            for (d, m, b), v in sorted(self._sums.items())
        ]  # fmt: skip


def book(mock_url: str, rows: list[dict[str, Any]]) -> None:
    root = mock_url.removesuffix("/v1")
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    try:
        answer = httpx.post(
            f"{root}/_mock/ledger", json={"bookings": rows}, headers=auth, timeout=60
        )
    except httpx.HTTPError as exc:
        raise DemoError(f"the mock upstream did not take the history's bill: {exc}") from None
    if answer.status_code != 200:
        raise DemoError(f"the mock upstream refused the history's bill: {answer.text[:200]}")


def reconcile_days(engine: Engine, settings: Settings, start: date, end: date) -> Reconciliation:
    """Fetch the mock's bill for the days, store it, and compare it with the record."""
    with admin_client(settings) as client:
        fetch_and_store(engine, client, start, end, datetime.now(UTC))
    return reconciliation(engine, start, end, ownership(settings))


def summary(rec: Reconciliation) -> str:
    t = rec.totals
    coverage = ratio_text(t.coverage)
    shown = "n/a" if coverage is None else f"{Decimal(coverage) * 100:.4f} %"
    text = (
        f"reconciled {rec.start} .. {rec.end} with the mock's bill: "
        f"billed ${usd_text(t.billed_usd)}, metered ${usd_text(t.metered_usd)}, coverage {shown}"
    )
    for u in rec.unmetered:
        text += f"; unmetered ${usd_text(u.billed_usd)} on key {u.api_key_id} (planted bypass)"
    return text
