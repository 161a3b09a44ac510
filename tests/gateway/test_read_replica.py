"""A real streaming replica: the gateway writes the primary, the dashboard and reports read
the replica, and the dashboard says when the replica falls behind.

The primary and the replica are clusters of their own (``tests/support/pg_replica.py``), so
pausing the replica's replay (``pg_wal_replay_pause()``) stalls it as a slow or cut-off
standby would be.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dash
import openai
import pytest
from sqlalchemy import Engine

from collector import analytics
from collector.analytics import Filters
from collector.db import make_engine
from collector.settings import Settings
from dashboard.app import create_dash_app
from tests.gateway._server import GatewayServer
from tests.gateway._support import UPSTREAM_KEY, virtual_key
from tests.support.pg_replica import ReplicatedDatabase, replay_paused, wait_caught_up
from tests.support.wait import wait_until

CALLS = 6
BANNER = "The read replica is behind"
_DOWN = "postgresql+psycopg://postgres@127.0.0.1:9/nothing"  # port 9 refuses at once


def _window() -> Filters:
    now = datetime.now(UTC)
    return Filters(now - timedelta(hours=2), now + timedelta(hours=1))


def _rows(engine: Engine) -> int:
    _df, total = analytics.requests_page(engine, _window())
    return total


@pytest.fixture
def recorded(replicated: ReplicatedDatabase, tmp_path: Path, mock_base_url: str) -> Iterator[int]:
    """CALLS requests answered by a gateway that writes the primary (and reads, for its
    alert measurements, the replica); yields how many it answered."""
    settings = Settings(
        database_url=replicated.primary_url,
        read_database_url=replicated.replica_url,
        spool_dir=tmp_path / "spool",
        upstream_base_url=mock_base_url,
        upstream_api_key=UPSTREAM_KEY,
        recorder_flush_interval_ms=10,
    )
    primary = make_engine(replicated.primary_url)
    server = GatewayServer(settings).start()
    try:
        client = _client(server.base_url, virtual_key(primary))
        for _ in range(CALLS):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        server.flush()
        assert _rows(primary) == CALLS
        yield CALLS
    finally:
        server.stop()
        primary.dispose()


def _client(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)


def _dash_settings(db: ReplicatedDatabase, **extra: object) -> Settings:
    return Settings(
        database_url=db.primary_url,
        read_database_url=db.replica_url,
        dashboard_allow_anonymous=True,
        **extra,  # type: ignore[arg-type]
    )


def test_gateway_writes_reach_the_dashboard_through_the_replica(
    replicated: ReplicatedDatabase, recorded: int
) -> None:
    app = create_dash_app(_dash_settings(replicated))
    engine = app.server.extensions["spendscope"].engine
    try:
        assert engine.url.port == make_engine(replicated.replica_url).url.port
        wait_until(lambda: _rows(engine) == recorded, 30, "the replica has every request")
        spenders = analytics.top_spenders(engine, _window(), "project")
        assert list(spenders["requests"]) == [recorded]
        assert spenders["cost_usd"][0] > Decimal(0)
    finally:
        engine.dispose()


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "collector", *args]
    full = {**os.environ, **env}
    return subprocess.run(command, env=full, capture_output=True, text=True, timeout=120)


def test_report_reads_the_replica_while_the_primary_is_down(
    replicated: ReplicatedDatabase, recorded: int
) -> None:
    replica = make_engine(replicated.replica_url)
    wait_until(lambda: _rows(replica) == recorded, 30, "the replica has every request")
    replica.dispose()
    month = datetime.now(UTC).strftime("%Y-%m")
    args = ("report", "--month", month, "--format", "json")
    env = {"SPENDSCOPE_DATABASE_URL": _DOWN, "SPENDSCOPE_READ_DATABASE_URL": replicated.replica_url}
    done = _cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    assert sum(int(row["requests"]) for row in json.loads(done.stdout)["rows"]) == recorded
    without = _cli(*args, env={"SPENDSCOPE_DATABASE_URL": _DOWN})  # reads the primary: fails
    assert without.returncode == 2
    assert without.stderr.startswith("error: database error") and without.stderr.count("\n") == 1


def test_a_bad_read_url_is_one_line_at_start(tmp_path: Path) -> None:
    env = {"SPENDSCOPE_READ_DATABASE_URL": "mysql://x@y/z"}
    done = _cli("report", "--month", "2026-01", env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: invalid setting SPENDSCOPE_READ_DATABASE_URL: "
        "Value error, must be a postgresql+psycopg:// URL (or sqlite:///)"
    )


def _banner(app: dash.Dash) -> str:
    """The root layout as the browser fetches it: the banner is in it when it shows."""
    client = app.server.test_client()
    response = client.get("/_dash-layout")
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def test_the_lag_banner_shows_while_replay_is_paused(replicated: ReplicatedDatabase) -> None:
    app = create_dash_app(_dash_settings(replicated, replica_lag_bound_s=1.0))
    primary = make_engine(replicated.primary_url)
    try:
        virtual_key(primary)  # a write, replayed, then nothing for longer than the bound:
        written = time.monotonic()
        wait_caught_up(replicated)
        time.sleep(max(0.0, written + 1.5 - time.monotonic()))
        assert BANNER not in _banner(app)  # idle is no lag, though the last commit is old
        replay_paused(replicated.replica_url, True)
        try:
            virtual_key(primary)  # committed on the primary, not applied on the replica
            wait_until(lambda: BANNER in _banner(app), 30, "the lag banner")
            assert "bytes of WAL not yet replayed" in _banner(app)
        finally:
            replay_paused(replicated.replica_url, False)
        wait_until(lambda: BANNER not in _banner(app), 30, "the banner to go")
    finally:
        primary.dispose()
        app.server.extensions["spendscope"].engine.dispose()
