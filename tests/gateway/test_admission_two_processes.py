"""The acceptance test of hard budgets: two gateway processes, one database, one budget.

Two ``spendscope serve`` processes share one schema (PostgreSQL) or one file (SQLite). 200
concurrent calls from the official ``AsyncOpenAI`` client (default retries), split across both,
race for a hard budget that affords exactly 50 of them (and 150: then each process admits
most requests from leases — 1/32 of the budget, about 4 requests, reserved in one go): each
request reserves its worst case (catalog price × prompt tokens and ``max_tokens``) and the
mock answers exactly ``max_tokens``, so the arithmetic is exact. Spend must stay within the
limit, at least 90 % of what the limit affords must be admitted, and every refusal is one
``blocked`` row.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from sqlalchemy import Engine, select

from collector.budgets import BudgetStatus, budget_statuses
from collector.db import Request, make_engine, session_scope
from tests.gateway._support import UPSTREAM_KEY
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
from tests.gateway.test_serve_cli import _free_port, _wait_healthy

CALLS = 200


def _serve(
    port: int, db_url: str, spool: Path, upstream: str, extra: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``spendscope serve`` in a process of its own; ``extra`` adds SPENDSCOPE_* settings."""
    env = {
        **os.environ,
        "SPENDSCOPE_DATABASE_URL": db_url,
        "SPENDSCOPE_SPOOL_DIR": str(spool),
        "SPENDSCOPE_UPSTREAM_BASE_URL": upstream,
        "SPENDSCOPE_UPSTREAM_API_KEY": UPSTREAM_KEY,
        "SPENDSCOPE_LOG_LEVEL": "WARNING",
        **(extra or {}),
    }
    command = [sys.executable, "-m", "collector", "serve", "--port", str(port)]
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE)


async def _storm(ports: list[int], raw_key: str) -> list[tuple[int, str]]:
    """(port, "ok" or the refusal's code) for each of CALLS concurrent calls."""
    clients = [
        openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{p}/v1", api_key=raw_key) for p in ports
    ]

    async def one(i: int) -> tuple[int, str]:
        client = clients[i % len(clients)]
        port = ports[i % len(ports)]
        try:
            await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, extra_headers=EXACT
            )
        except openai.RateLimitError as exc:
            assert exc.response.headers["x-should-retry"] == "false"
            return port, str(exc.code)
        return port, "ok"

    try:
        return await asyncio.gather(*(one(i) for i in range(CALLS)))
    finally:
        for client in clients:
            await client.close()


def _recorded(engine: Engine) -> tuple[list[Request], BudgetStatus]:
    with session_scope(engine) as session:
        rows = list(session.scalars(select(Request)))
    [status] = budget_statuses(engine, datetime.now(UTC), UTC_TZ)
    engine.dispose()
    return rows, status


@pytest.mark.parametrize("afforded", [50, 150])
def test_two_gateways_never_overspend_one_hard_budget(
    migrated_url: str, tmp_path: Path, mock_base_url: str, afforded: int
) -> None:
    engine = make_engine(migrated_url)
    worst = worst_case()
    limit = worst * afforded + worst / 2  # affords exactly `afforded` requests
    hard_budget(engine, limit)
    raw_key = key(engine)
    ports = [_free_port(), _free_port()]
    procs = [_serve(p, migrated_url, tmp_path / f"spool-{p}", mock_base_url) for p in ports]
    try:
        for port, proc in zip(ports, procs, strict=True):
            _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        answers = asyncio.run(_storm(ports, raw_key))
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)  # graceful: recorder drained, settles booked
        for proc in procs:
            assert proc.wait(60) == 0
    rows, status = _recorded(engine)

    codes = Counter(code for _, code in answers)
    admitted = codes["ok"]
    assert set(codes) <= {"ok", "insufficient_quota"}, codes
    assert len(rows) == CALLS  # one request per call: no refusal was retried by the SDK
    outcomes = Counter(r.outcome for r in rows)
    assert outcomes == {"success": admitted, "blocked": CALLS - admitted}
    assert all(r.cost_usd == worst for r in rows if r.outcome == "success")
    spent = sum((r.cost_usd or Decimal(0) for r in rows), Decimal(0))
    assert spent <= limit, (spent, limit)
    assert admitted >= afforded * 9 // 10, Counter(answers)
    assert (status.spent_usd, status.reserved_usd) == (spent, Decimal(0))
    assert all(
        (r.http_status, r.error_type) == (429, "insufficient_quota")
        for r in rows
        if r.outcome == "blocked"
    )
