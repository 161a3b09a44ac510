"""``spendscope demo`` end to end: a real run in a subprocess, on free ports, for ~20 s.

While it runs, the dashboard must answer (login page, then a signed-in page). After it
stops by itself, it must have exited 0, left no child process behind, and recorded history
plus varied live traffic (endpoints, models, streams, retries) that the query layer behind
each dashboard page can read.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from collector.db import AlertEvent, BillLine, Request, make_engine, session_scope
from collector.demo._bill import BYPASS_TOKENS
from collector.mock_upstream._ledger import BYPASS_MODEL
from collector.pricing import compute_cost
from collector.usage import Usage

DURATION_S = 20
psutil = pytest.importorskip("psutil")


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class DemoRun:
    proc: subprocess.Popen[str]
    db: Path
    dashboard: str
    lines: list[str] = field(default_factory=list)

    def read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = re.search(pattern, "".join(self.lines))
            if found:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        pytest.fail(f"{pattern!r} never appeared; output:\n{''.join(self.lines)}")

    @property
    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """One demo run shared by the tests below (it is the expensive part)."""
    tmp = tmp_path_factory.mktemp("demo")
    gateway, dashboard, mock = _free_ports(3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
    cmd = [
        sys.executable, "-m", "collector", "demo", "--duration", str(DURATION_S), "--days", "3",
        "--rate", "5", "--headless", "--db", str(tmp / "demo.db"), "--gateway-port",
        str(gateway), "--dashboard-port", str(dashboard), "--mock-port", str(mock),
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    run = DemoRun(proc, tmp / "demo.db", f"http://127.0.0.1:{dashboard}")
    reader = threading.Thread(target=run.read, daemon=True)
    reader.start()
    try:
        yield run
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
        reader.join(5)


def _demo_children(db: Path) -> list[int]:
    """Processes started with the demo database in their environment (its children)."""
    found = []
    for p in psutil.process_iter(["pid"]):
        try:
            if str(db) in p.environ().get("SPENDSCOPE_DATABASE_URL", ""):
                found.append(p.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


@pytest.fixture(scope="module")
def finished(demo_run: DemoRun) -> DemoRun:
    """The dashboard checks run while the demo is up; this waits for it to stop by itself."""
    _check_dashboard(demo_run)
    demo_run.proc.wait(DURATION_S + 60)
    return demo_run


def _check_dashboard(run: DemoRun) -> None:
    password = run.wait_for(r"login: demo / (\S+)", 60).group(1)
    assert _demo_children(run.db), "the demo's children should be running now"
    with httpx.Client(base_url=run.dashboard, timeout=10) as http:
        page = http.get("/login")
        assert page.status_code == 200
        assert 'name="password"' in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        form = {"username": "demo", "password": password, "csrf": csrf.group(1)}
        signed_in = http.post("/login", data=form, follow_redirects=True)
        assert signed_in.status_code == 200
        assert "_dash-app-content" in signed_in.text or "react-entry-point" in signed_in.text


def test_demo_exits_cleanly_without_orphans(finished: DemoRun) -> None:
    assert finished.proc.returncode == 0, finished.output
    assert "demo stopped cleanly" in finished.output
    assert re.search(r"history: [\d,]+ requests", finished.output)
    assert _demo_children(finished.db) == []


def _rows(db: Path) -> list[Request]:
    engine = make_engine(f"sqlite:///{db}")
    try:
        with session_scope(engine) as session:
            return list(session.scalars(select(Request)))
    finally:
        engine.dispose()


def test_history_and_varied_live_traffic_were_recorded(finished: DemoRun) -> None:
    rows = _rows(finished.db)
    history = [r for r in rows if r.metadata_.get("demo") == "history"]
    live = [r for r in rows if r.metadata_.get("demo") == "live"]
    assert len(history) > 1000
    assert len(live) >= 30
    assert {r.endpoint for r in live} >= {
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/embeddings",
    }
    assert len({r.model_served for r in live if r.model_served}) >= 4
    assert {r.stream for r in live} == {True, False}
    assert any(r.attempt_count > 1 for r in live), "a scripted fault should have been retried"
    assert all(r.project_id is not None and r.api_key_id is not None for r in live)
    assert any(r.cost_usd is not None and r.cost_usd > 0 for r in live)


def test_alerts_fired_to_the_file_channel(finished: DemoRun) -> None:
    engine = make_engine(f"sqlite:///{finished.db}")
    try:
        with engine.connect() as conn:
            fired = conn.execute(select(AlertEvent.message)).scalars().all()
    finally:
        engine.dispose()
    assert any("live demo traffic today" in m for m in fired), fired
    alerts_file = finished.db.with_name("demo-alerts.jsonl")
    assert alerts_file.read_text().count("alert.fired") == len(fired)


def test_every_dashboard_query_has_data(finished: DemoRun) -> None:
    from collector import analytics  # the query layer behind every dashboard page

    engine = make_engine(f"sqlite:///{finished.db}")
    now = datetime.now(UTC)
    f = analytics.Filters.last(7, now)
    try:
        assert analytics.overview(engine, f, now).requests > 0
        assert not analytics.spend_over_time(engine, f, "model", "hour").empty
        assert not analytics.top_spenders(engine, f, "project").empty
        assert not analytics.latency_over_time(engine, f, "hour").empty
        assert not analytics.reliability(engine, f, "hour").empty
        assert not analytics.error_budget_by_project(engine, f, now).empty
        assert not analytics.errors_breakdown(engine, f).empty
        page, total = analytics.requests_page(engine, f)
        assert total > 0 and not page.empty
        assert len(analytics.budget_status(engine, now)) == 5
        assert analytics.filter_options(engine).projects
    finally:
        engine.dispose()


def test_history_reconciles_to_100_percent_with_the_planted_bypass(finished: DemoRun) -> None:
    """The mock's bill covers the history exactly; the planted bypass key is unmetered."""
    line = re.search(r"reconciled (\S+) \.\. (\S+) with the mock's bill: (.*)", finished.output)
    assert line is not None, finished.output
    assert "coverage 100.0000 %" in line.group(3)
    bypass = re.search(
        r"unmetered \$(\S+) on key key_mock_bypass \(planted bypass\)", line.group(3)
    )
    assert bypass is not None, line.group(3)
    # the line's own days: a later reconciliation (of the live traffic) may store a newer day
    # when the demo runs across midnight UTC
    first, last = date.fromisoformat(line.group(1)), date.fromisoformat(line.group(2))
    engine = make_engine(f"sqlite:///{finished.db}")
    try:
        with engine.connect() as conn:
            keys = set(conn.scalars(select(BillLine.api_key_id).distinct()))
            days = set(conn.scalars(select(BillLine.day).where(
                BillLine.api_key_id == "key_mock_bypass", BillLine.source == "costs",
                BillLine.day.between(first, last))))  # fmt: skip
    finally:
        engine.dispose()
    assert "key_mock_bypass" in keys and len(keys) == 2
    # exactly the planted bypass: BYPASS_TOKENS in and a quarter out a day, at the catalog's
    # price of the bypass model, on every day the bill has
    planted = Usage(prompt_tokens=BYPASS_TOKENS, completion_tokens=BYPASS_TOKENS // 4)
    priced = [compute_cost(planted, BYPASS_MODEL, datetime.combine(d, clock_time(12), tzinfo=UTC))
              for d in days]  # fmt: skip
    assert days and Decimal(bypass.group(1)) == sum((c.cost_usd or Decimal(0) for c in priced),
                                                    Decimal(0))  # fmt: skip
