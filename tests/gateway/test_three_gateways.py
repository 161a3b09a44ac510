"""Three gateway hosts: separately started ``spendscope serve`` processes on their own ports,
each with its own spool directory, sharing nothing but PostgreSQL and Redis — as three
machines behind a load balancer would.

The official ``AsyncOpenAI`` client spreads its calls across them round-robin. One key spends
against a hard budget that affords exactly 50 requests (each request costs exactly its worst
case, see ``test_admission_two_processes``): spend never passes the limit, and at least 90 %
of what it affords is admitted. Another key has a 30-requests-per-minute limit shared through
Redis: exactly 30 of its 90 calls pass. A budget-threshold rule with a webhook fires each of
its alerts (50 % and 80 %) once, though three evaluators watch it. Every call is one row.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy import Engine, func, select

from collector.alerts import add_rule, parse_channel
from collector.db import AlertEvent, Project, make_engine, session_scope
from collector.keys import create_key
from collector.settings import load_settings
from tests.gateway.test_admission_gateway import (
    EXACT,
    MAX_TOKENS,
    MESSAGES,
    MODEL,
    hard_budget,
    key,
    worst_case,
)
from tests.gateway.test_admission_two_processes import _recorded, _serve
from tests.gateway.test_serve_cli import _free_port, _wait_healthy
from tests.support.redis_server import REDIS_URL, require_redis
from tests.support.wait import wait_until

GATEWAYS = 3
BUDGET_CALLS = 150
AFFORDED = 50
RPM = 30
RPM_CALLS = 90
SECRET = "three-gateways"
STARTUP_S = 240  # three processes importing and migrating at once on a busy 2-core machine


class _Hooks(ThreadingHTTPServer):
    bodies: list[dict[str, Any]]


class _Handler(BaseHTTPRequestHandler):
    server: _Hooks

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.server.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hooks() -> Iterator[_Hooks]:
    """A real local webhook receiver, recording every body it is sent."""
    server = _Hooks(("127.0.0.1", 0), _Handler)
    server.bodies = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _env(prefix: str) -> dict[str, str]:
    return {
        "SPENDSCOPE_REDIS_URL": REDIS_URL,
        "SPENDSCOPE_REDIS_KEY_PREFIX": prefix,
        "SPENDSCOPE_ALERT_INTERVAL_S": "1",
        "SPENDSCOPE_ALERT_WEBHOOK_SECRET": SECRET,
        "SPENDSCOPE_RECORDER_FLUSH_INTERVAL_MS": "50",
    }


def _limited_key(engine: Engine) -> str:
    with session_scope(engine) as session:
        created = create_key(
            session, project="beta", user=None, tags={}, rpm=RPM, tpm=None, name=None,
            now=datetime.now(UTC),
        )  # fmt: skip
    return created.raw_key


async def _spread(ports: list[int], raw_key: str, calls: int) -> list[tuple[int, str]]:
    """(port, "ok" or the refusal's code) for ``calls`` concurrent calls, round-robin."""
    clients = [
        openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{p}/v1", api_key=raw_key) for p in ports
    ]

    async def one(i: int) -> tuple[int, str]:
        try:
            await clients[i % len(ports)].chat.completions.create(
                model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, extra_headers=EXACT
            )
        except openai.RateLimitError as exc:
            assert exc.response.headers["x-should-retry"] == "false"
            return ports[i % len(ports)], str(exc.code)
        return ports[i % len(ports)], "ok"

    try:
        return await asyncio.gather(*(one(i) for i in range(calls)))
    finally:
        for client in clients:
            await client.close()


def _project_id(engine: Engine, name: str) -> int:
    with session_scope(engine) as session:
        return int(session.scalars(select(Project.id).where(Project.name == name)).one())


def _same_minute_ahead(seconds: float = 15.0) -> None:
    """Start the rate-limited calls early in a minute, so all of them fall in one window."""
    into = time.time() % 60
    if into > 60 - seconds:
        time.sleep(60 - into + 0.2)


def _fired(hooks: _Hooks) -> list[str]:
    return [b["dedup_key"] for b in hooks.bodies if b.get("event") == "alert.fired"]


def test_three_gateway_hosts_share_budgets_limits_alerts_and_the_record(
    pg_migrated_url: str, tmp_path: Path, mock_base_url: str, hooks: _Hooks
) -> None:
    require_redis()
    engine = make_engine(pg_migrated_url)
    worst = worst_case()
    limit = worst * AFFORDED + worst / 2  # affords exactly AFFORDED requests
    hard_budget(engine, limit)
    hook_url = f"http://127.0.0.1:{hooks.server_address[1]}/hook"
    channel = parse_channel("webhook", hook_url, load_settings(alert_webhook_secret=SECRET))
    add_rule(engine, "spend", "budget_threshold", "global", {}, (channel,), datetime.now(UTC))
    budget_key, limited_key = key(engine), _limited_key(engine)
    ports = [_free_port() for _ in range(GATEWAYS)]
    extra = _env(f"three-{uuid.uuid4().hex[:8]}")
    procs = [
        _serve(p, pg_migrated_url, tmp_path / f"host-{n}" / "spool", mock_base_url, extra)
        for n, p in enumerate(ports)
    ]
    try:
        for port, proc in zip(ports, procs, strict=True):
            _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, STARTUP_S)
        spent_answers = asyncio.run(_spread(ports, budget_key, BUDGET_CALLS))
        _same_minute_ahead()
        limited_answers = asyncio.run(_spread(ports, limited_key, RPM_CALLS))
        wait_until(lambda: len(_fired(hooks)) >= 2, 60, "the 50 % and 80 % alerts")
        time.sleep(3)  # three more evaluations in each gateway: none may send it again
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)  # graceful: recorder drained, settles booked
        for proc in procs:
            assert proc.wait(60) == 0
    rows, status = _recorded(engine)
    engine = make_engine(pg_migrated_url)

    # every gateway served, and every call is exactly one row
    assert {port for port, _ in spent_answers + limited_answers} == set(ports)
    assert len(rows) == BUDGET_CALLS + RPM_CALLS
    answered = sum(1 for _, code in spent_answers + limited_answers if code == "ok")
    assert Counter(r.outcome for r in rows)["success"] == answered

    # hard budget: never overspent across the three hosts, and nearly all of it usable
    spent_codes = Counter(code for _, code in spent_answers)
    assert set(spent_codes) <= {"ok", "insufficient_quota"}, spent_codes
    acme = [r for r in rows if r.project_id == _project_id(engine, "acme")]
    assert Counter(r.outcome for r in acme) == {
        "success": spent_codes["ok"],
        "blocked": BUDGET_CALLS - spent_codes["ok"],
    }
    assert all(r.cost_usd == worst for r in acme if r.outcome == "success")
    spent = sum((r.cost_usd or Decimal(0) for r in acme), Decimal(0))
    assert spent <= limit, (spent, limit)
    assert spent_codes["ok"] >= AFFORDED * 9 // 10, spent_codes
    assert (status.spent_usd, status.reserved_usd) == (spent, Decimal(0))

    # rate limit: exactly RPM of the limited key's calls passed, the rest refused
    assert Counter(code for _, code in limited_answers) == {
        "ok": RPM,
        "rate_limit_exceeded": RPM_CALLS - RPM,
    }

    # each alert sent once, and claimed once
    fired = _fired(hooks)
    sent = [(b["event"], b["dedup_key"].rsplit("|", 1)[1], b["message"]) for b in hooks.bodies]
    assert sorted(k.rsplit("|", 1)[1] for k in fired) == ["50", "80"], sent
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(AlertEvent)) == 2
    engine.dispose()
