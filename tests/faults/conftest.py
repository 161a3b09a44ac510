"""Fault-suite fixtures: one mock upstream per session, gateways as real processes per test.

``gateway(outage=..., **settings)`` migrates the test's database (SQLite, and PostgreSQL when
configured: ``db_url`` from ``tests/conftest.py``), makes a virtual key with the CLI and starts
``spendscope serve``; every process it started is ended in teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from tests.faults._harness import Gateway, MockUpstream, Outage


@pytest.fixture(scope="session")
def mock_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockUpstream]:
    mock = MockUpstream(tmp_path_factory.mktemp("mock"))
    yield mock
    mock.stop()


@dataclass
class Running:
    """A started gateway, the key its clients use, and the URL rows are counted in."""

    gateway: Gateway
    key: str
    rows_url: str


class GatewayFactory(Protocol):
    def __call__(self, outage: Outage | None = None, spool_dir: Path | None = None,
                 **settings: str) -> Running: ...  # fmt: skip


@pytest.fixture
def start_gateway(
    db_url: str, tmp_path: Path, mock_upstream: MockUpstream
) -> Iterator[GatewayFactory]:
    started: list[Gateway] = []

    def start(
        outage: Outage | None = None, spool_dir: Path | None = None, **settings: str
    ) -> Running:
        gateway = Gateway(
            work=tmp_path,
            database_url=outage.gateway_url if outage else db_url,
            upstream=mock_upstream.base_url,
            spool_dir=spool_dir or tmp_path / "spool",
            extra={f"SPENDSCOPE_{k.upper()}": v for k, v in settings.items()},
        )
        started.append(gateway)
        key = gateway.create_key()
        return Running(gateway.start(), key, db_url)

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture
def outage(db_url: str) -> Iterator[Outage]:
    cut = Outage(db_url)
    yield cut
    cut.close()
