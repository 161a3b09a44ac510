"""Gateway fixtures: the mock upstream and the gateway, both real servers on free ports.

``gateway(**settings)`` starts a gateway (uvicorn in a thread) over a migrated database and
the mock upstream; ``virtual_key`` writes a key row through ``collector.keys``; ``recorded``
reads back what the recorder wrote. Most tests run on SQLite; tests that take
``migrated_url`` run on PostgreSQL too when it is configured.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from collector.db import make_engine
from collector.mock_upstream import MockConfig, run_in_thread
from collector.settings import Settings
from tests.gateway._outage import Outage
from tests.gateway._server import GatewayServer
from tests.gateway._support import UPSTREAM_KEY, Gateway, GatewayFactory
from tests.support.templates import migrate


@pytest.fixture(scope="session")
def mock_base_url() -> Iterator[str]:
    """The fake OpenAI; it accepts only the gateway's own upstream key."""
    with run_in_thread(MockConfig(require_key=UPSTREAM_KEY, retry_after_s=0.01)) as url:
        # Warm its tokenizers so the first test's tries are not slowed by a cold start.
        warm = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        auth = {"authorization": f"Bearer {UPSTREAM_KEY}"}
        httpx.post(f"{url}/chat/completions", json=warm, headers=auth, timeout=30)
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    return url


def _factory(url: str, tmp_path: Path, upstream: str) -> Iterator[GatewayFactory]:
    started: list[tuple[GatewayServer, Engine]] = []

    def start(**overrides: Any) -> Gateway:
        options: dict[str, Any] = {
            "database_url": url,
            "spool_dir": tmp_path / f"spool-{len(started)}",
            "upstream_base_url": upstream,
            "upstream_api_key": UPSTREAM_KEY,
            "backoff_base_ms": 1,
            "backoff_max_ms": 5,
            "recorder_flush_interval_ms": 10,
        }
        options.update(overrides)
        server = GatewayServer(Settings(**options)).start()
        engine = make_engine(url)
        started.append((server, engine))
        return Gateway(server, engine)

    yield start
    for server, engine in started:
        server.stop()
        engine.dispose()


@pytest.fixture
def gateway_on(migrated_url: str, tmp_path: Path, mock_base_url: str) -> Iterator[GatewayFactory]:
    """Gateways on SQLite and (when configured) PostgreSQL."""
    yield from _factory(migrated_url, tmp_path, mock_base_url)


@pytest.fixture
def make_gateway(sqlite_url: str, tmp_path: Path, mock_base_url: str) -> Iterator[GatewayFactory]:
    """Gateways on a fresh SQLite database."""
    yield from _factory(sqlite_url, tmp_path, mock_base_url)


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> Gateway:
    return make_gateway()


@pytest.fixture
def outage(migrated_url: str) -> Iterator[Outage]:
    """A database outage the test starts and ends (see ``_outage``); ended when it is over."""
    found = Outage(migrated_url)
    yield found
    found.restore()
    if found.proxy is not None:
        found.proxy.close()
