"""Shared fixtures: every database test runs on SQLite, and on PostgreSQL when configured.

``SPENDSCOPE_TEST_POSTGRES_URL`` enables PostgreSQL; each test gets a fresh schema (via the
connection's search_path) that is dropped afterwards. With ``SPENDSCOPE_REQUIRE_POSTGRES=1``
(as in CI) an unreachable PostgreSQL fails the test instead of skipping it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, text

from collector.db import make_engine
from collector.settings import get_settings
from tests.support.pg_replica import (
    ReplicaPair,
    ReplicatedDatabase,
    replica_pair,
    replicated_database,
)
from tests.support.templates import migrate, release

PG_URL = os.environ.get("SPENDSCOPE_TEST_POSTGRES_URL")
REQUIRE_PG = os.environ.get("SPENDSCOPE_REQUIRE_POSTGRES") == "1"


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's .env or ./spendscope.db."""
    for key in list(os.environ):
        if key.startswith("SPENDSCOPE_") and not key.startswith("SPENDSCOPE_TEST"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", f"sqlite:///{tmp_path / 'default.db'}")
    monkeypatch.setenv("SPENDSCOPE_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _pg_schema_url(schema: str) -> str:
    assert PG_URL is not None
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"


@contextlib.contextmanager
def _pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema's URL, dropped afterwards (skips, or fails when required,
    without a configured server)."""
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("SPENDSCOPE_REQUIRE_POSTGRES=1 but SPENDSCOPE_TEST_POSTGRES_URL is unset")
        pytest.skip("PostgreSQL not configured (set SPENDSCOPE_TEST_POSTGRES_URL)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    admin.dispose()
    try:
        yield _pg_schema_url(schema)
    finally:
        release(_pg_schema_url(schema), schema)  # dropped, or emptied for the next test


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL (not migrated) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    with _pg_schema() as url:
        yield url


@pytest.fixture
def pg_migrated_url() -> Iterator[str]:
    """A PostgreSQL database at the newest schema, for what only PostgreSQL can show."""
    with _pg_schema() as url:
        migrate(url)
        yield url


@pytest.fixture
def migrated_url(db_url: str) -> str:
    """A database URL at the newest schema (a copy of one migrated for real in this process)."""
    migrate(db_url)
    return db_url


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    eng = make_engine(migrated_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def pg_pair() -> Iterator[ReplicaPair]:
    """A PostgreSQL primary and its streaming replica, both made for this run (see
    ``tests/support/pg_replica.py``); stopped and removed at the end, pass or fail."""
    with replica_pair() as pair:
        yield pair


@pytest.fixture
def replicated(pg_pair: ReplicaPair) -> Iterator[ReplicatedDatabase]:
    """A migrated database on the primary that the replica serves too."""
    with replicated_database(pg_pair, f"r_{uuid.uuid4().hex[:12]}") as db:
        yield db


# The modules that take longest from start to end (wall seconds of a full run, most first),
# collected first, so that no long module starts last and runs alone at the end. Under
# pytest-xdist this orders the workers' modules only with `--no-loadscope-reorder` (as `make
# pytest` runs it): loadscope otherwise sorts modules by their number of tests.
LONGEST_MODULES = (
    "tests/faults/test_outages.py",
    "tests/faults/test_kills.py",
    "tests/gateway/test_gateway_background_processes.py",
    "tests/faults/test_poison.py",
    "tests/gateway/test_gateway_batches_scale.py",
    "tests/faults/test_batch_kill.py",
    "tests/dashboard/test_browser.py",
    "tests/gateway/test_admission_two_processes.py",
    "tests/otel/test_otel_export.py",
    "tests/demo/test_demo_run.py",
    "tests/faults/test_key_rotation_load.py",
    "tests/reconcile/test_reconcile_cli.py",
    "tests/gateway/test_gateway_batches_processes.py",
    "tests/analytics/test_rollups_vs_raw.py",
    "tests/gateway/test_admission_crash.py",
    "tests/keys/test_store.py",
    "tests/docs/test_docs_commands.py",
    "tests/db/test_migrations.py",
    "tests/analytics/test_requests.py",
    "tests/pricing/test_pricing_reprice.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the longest modules first (stable: every module keeps its tests together, in order)."""
    rank = {path: i for i, path in enumerate(LONGEST_MODULES)}
    root = config.rootpath

    def key(item: pytest.Item) -> int:
        return rank.get(item.path.relative_to(root).as_posix(), len(rank))

    items.sort(key=key)
