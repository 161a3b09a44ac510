"""A gateway process killed mid-traffic: its holds expire, and spent converges on the record.

The killed process admits from a lease whose spend is booked only when the lease returns, so
at the kill its completed requests are recorded (the recorder writes every 10 ms) but none
of their cost is in the counter. After a restart (the spool replays) and a graceful stop, the
hold sweeper releases the dead process's holds and reconciles: spent equals the recorded cost.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from collector.budgets import Admitter, budget_statuses
from collector.db import Request, make_engine, session_scope
from collector.db.models import BudgetCounter
from collector.settings import load_settings
from tests.gateway.test_admission_gateway import (
    EXACT,
    MAX_TOKENS,
    MESSAGES,
    MODEL,
    UTC_TZ,
    hard_budget,
    key,
    worst_case,
)
from tests.gateway.test_admission_two_processes import _serve
from tests.gateway.test_serve_cli import _free_port, _wait_healthy

LEASED = {"SPENDSCOPE_BUDGET_LEASE_REQUESTS": "10000", "SPENDSCOPE_BUDGET_LEASE_MAX_AGE_S": "600",
          "SPENDSCOPE_RECORDER_FLUSH_INTERVAL_MS": "10"}  # fmt: skip


async def _traffic(port: int, raw_key: str, calls: int, *, until_ok: int | None = None) -> int:
    """Send ``calls`` requests, 8 at a time; returns how many succeeded (errors tolerated)."""
    ok = 0
    body = {"model": MODEL, "messages": MESSAGES, "max_tokens": MAX_TOKENS}
    headers = {"authorization": f"Bearer {raw_key}", **EXACT}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/v1", timeout=10) as client:

        async def one() -> None:
            nonlocal ok
            try:
                answer = await client.post("/chat/completions", json=body, headers=headers)
            except httpx.HTTPError:
                return
            ok += answer.status_code == 200

        for _ in range(0, calls, 8):
            await asyncio.gather(*(one() for _ in range(8)))
            if until_ok is not None and ok >= until_ok:
                break
    return ok


def test_spent_converges_on_recorded_cost_after_a_crash(
    migrated_url: str, tmp_path: Path, mock_base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(migrated_url)
    worst = worst_case()
    hard_budget(engine, worst * 100_000)
    raw_key = key(engine)
    spool, port = tmp_path / "spool", _free_port()
    for name, value in LEASED.items():
        monkeypatch.setenv(name, value)
    proc = _serve(port, migrated_url, spool, mock_base_url)
    _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)

    async def crash() -> None:  # keep traffic flowing while the process is killed
        flowing = asyncio.ensure_future(_traffic(port, raw_key, 400))
        await _until_recorded(engine, 20)
        proc.send_signal(signal.SIGKILL)
        await flowing

    asyncio.run(crash())
    proc.wait(30)
    before = _counter(engine)
    proc = _serve(port, migrated_url, spool, mock_base_url)  # restart: the spool replays
    _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
    assert asyncio.run(_traffic(port, raw_key, 16)) == 16
    proc.send_signal(signal.SIGINT)  # graceful: its lease returns, its settles are booked
    assert proc.wait(60) == 0
    recorded = _recorded_cost(engine)
    assert before[0] < recorded  # the dead process's spend never reached the counter
    assert _counter(engine)[1] > 0  # and its lease is still held

    settings = load_settings(database_url=migrated_url)
    later = datetime.now(UTC) + timedelta(seconds=settings.budget_hold_ttl_s + 1)
    admitter = Admitter(engine, settings)
    assert asyncio.run(admitter.sweep(later)) >= 1
    assert _counter(engine) == (recorded, Decimal(0))  # what admission decides on
    assert asyncio.run(admitter.sweep(later)) == 0  # nothing left; a second sweep changes nothing
    [status] = budget_statuses(engine, datetime.now(UTC), UTC_TZ)
    assert (status.spent_usd, status.reserved_usd) == (recorded, Decimal(0))
    engine.dispose()


async def _until_recorded(engine: Engine, rows: int) -> None:
    async with asyncio.timeout(30):
        for _ in itertools.count():
            if _count(engine) >= rows:
                return
            await asyncio.sleep(0.02)


def _count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Request)) or 0)


def _counter(engine: Engine) -> tuple[Decimal, Decimal]:
    """The hard-budget counter rows themselves: (spent, reserved)."""
    with session_scope(engine) as session:
        rows = session.execute(select(BudgetCounter.spent_usd, BudgetCounter.reserved_usd)).all()
    return sum((r[0] for r in rows), Decimal(0)), sum((r[1] for r in rows), Decimal(0))


def _recorded_cost(engine: Engine) -> Decimal:
    with session_scope(engine) as session:
        total = session.scalar(select(func.sum(Request.cost_usd)))
    return Decimal(total or 0)
