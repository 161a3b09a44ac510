"""Fault-suite fixtures: one mock upstream per session, gateways as real processes per test.

``start_gateway(outage=..., spool_dir=..., **settings)`` migrates the test's database
(SQLite, and PostgreSQL when configured: ``db_url`` from ``tests/conftest.py``), makes a
virtual key with the CLI and starts ``spendscope serve``; every process it started is ended
in teardown. ``SPENDSCOPE_TEST_FAULTS_TREE=/path/to/checkout`` runs another checkout's gateway.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults._harness import Gateway, GatewayFactory, Launcher, MockUpstream, Outage, Running


@pytest.fixture(scope="session")
def mock_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockUpstream]:
    mock = MockUpstream(tmp_path_factory.mktemp("mock"))
    yield mock
    mock.stop()


@pytest.fixture(scope="session")
def launcher() -> Launcher:
    """This checkout, or the one ``SPENDSCOPE_TEST_FAULTS_TREE`` names (to see whether a
    fault fails on other code: an older commit, a branch)."""
    tree = os.environ.get("SPENDSCOPE_TEST_FAULTS_TREE")
    return Launcher.for_tree(Path(tree)) if tree else Launcher()


@pytest.fixture
def start_gateway(
    db_url: str, tmp_path: Path, mock_upstream: MockUpstream, launcher: Launcher
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
            launcher=launcher,
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
