"""Fixtures of the database tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from collector.db import make_engine, partitions
from tests.db.test_partitions import NOV, OCT, SEP


@pytest.fixture
def months_engine(pg_migrated_url: str) -> Iterator[Engine]:
    """A partitioned PostgreSQL database with September to November 2026 created."""
    eng = make_engine(pg_migrated_url)
    partitions.ensure_months(eng, [SEP, OCT, NOV])
    yield eng
    eng.dispose()
