"""Retention: old raw rows go in bounded batches, rollups stay, reports do not change."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from collector.analytics import Filters, latency_over_time, overview, spend_over_time
from collector.cli import app
from collector.db import Request
from collector.db.models import Attempt, MaintenanceRun
from collector.db.retention import (
    apply_retention,
    claim_slot,
    maintain_forever,
    maintain_once,
    slot_of,
)
from collector.reports import render_report
from collector.settings import load_settings
from tests.analytics.conftest import Seeded, seeded

__all__ = ["seeded"]  # the query-layer tests' hand-countable dataset

NOW = datetime(2026, 12, 15, 9, 30, tzinfo=UTC)  # the seeded rows are ~6 weeks old
NOV = Filters(datetime(2026, 10, 31, 23, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
runner = CliRunner()


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        requests = conn.scalar(select(func.count()).select_from(Request))
        attempts = conn.scalar(select(func.count()).select_from(Attempt))
    return int(requests or 0), int(attempts or 0)


def _figures(engine: Engine) -> list[Any]:
    reports = [
        render_report(engine, "2026-11", by, fmt)
        for by in ("project", "key", "user", "model", "tag")
        for fmt in ("json", "focus")
    ]
    spend = spend_over_time(engine, NOV, "project", "hour").to_dict("records")
    latency = latency_over_time(engine, NOV, "hour").to_json()  # NaN-aware
    return [*reports, spend, latency, overview(engine, NOV, NOW)]


def test_reports_and_figures_are_identical_after_retention(engine: Engine, seeded: Seeded) -> None:
    before, rows_before = _figures(engine), _counts(engine)
    result = apply_retention(engine, 30, NOW, batch_rows=7, pause_s=0)
    assert result.cutoff == NOW - timedelta(days=30)
    assert rows_before == (213, 215)
    assert _counts(engine) == (1, 1)  # the unpriced request stays, for finance follow-up
    assert result.requests_deleted == 212
    assert result.batches == 31  # ceil(212 / 7): bounded transactions
    with engine.connect() as conn:
        kept = conn.scalar(select(Request.cost_source))
    assert kept == "unpriced"
    assert _figures(engine) == before


def test_only_rows_older_than_the_cutoff_go(engine: Engine, seeded: Seeded) -> None:
    now = datetime(2026, 11, 2, tzinfo=UTC) + timedelta(days=1)  # cutoff: Nov 2 00:00
    result = apply_retention(engine, 1, now, pause_s=0)
    with engine.connect() as conn:
        left = sorted(conn.scalars(select(Request.started_at)))
    assert result.requests_deleted == 211
    assert left[0] < now - timedelta(days=1) < left[1]  # the unpriced one, and Nov 2 00:10
    assert len(left) == 2


def test_no_retention_keeps_everything(engine: Engine, seeded: Seeded) -> None:
    result = apply_retention(engine, None, NOW)
    assert (result.cutoff, result.requests_deleted) == (None, 0)
    assert _counts(engine) == (213, 215)


def test_one_process_per_slot_runs_the_maintenance(engine: Engine, seeded: Seeded) -> None:
    settings = load_settings(retention_days=30, maintenance_interval_s=3600)
    slot = slot_of(NOW, 3600)
    assert slot == datetime(2026, 12, 15, 9, tzinfo=UTC)
    first = maintain_once(engine, settings, NOW)
    assert first is not None and first.requests_deleted == 212
    assert maintain_once(engine, settings, NOW + timedelta(minutes=5)) is None
    assert not claim_slot(engine, slot, NOW)
    with engine.connect() as conn:
        run = conn.execute(select(MaintenanceRun)).one()
    assert (run.requests_deleted, run.finished_at is not None) == (212, True)
    assert maintain_once(engine, load_settings(), NOW + timedelta(hours=1)) is None


def test_cli_maintain(engine: Engine, seeded: Seeded, migrated_url: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", migrated_url)
    result = runner.invoke(app, ["db", "maintain"])
    assert result.exit_code == 0
    assert "retention is off" in result.output
    assert _counts(engine) == (213, 215)
    result = runner.invoke(app, ["db", "maintain", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "deleted 212 raw requests that started before" in result.output
    assert _counts(engine) == (1, 1)


def test_cli_refuses_bad_retention(tmp_path: Path, monkeypatch: Any) -> None:
    result = runner.invoke(app, ["db", "maintain", "--days", "0"])
    assert result.exit_code == 2
    monkeypatch.setenv("SPENDSCOPE_RETENTION_DAYS", "0")
    result = runner.invoke(app, ["db", "maintain"])
    assert result.exit_code == 2
    assert "SPENDSCOPE_RETENTION_DAYS" in result.output
    assert "Traceback" not in result.output


def test_the_gateway_task_applies_it_in_the_background(engine: Engine, seeded: Seeded) -> None:
    settings = load_settings(retention_days=30, maintenance_interval_s=3600)

    async def run() -> None:
        task = asyncio.create_task(maintain_forever(engine, settings))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if _counts(engine) == (1, 1):
                break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert _counts(engine) == (1, 1)  # the seed is weeks older than 30 days
