"""Fixtures of the recorder's tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from collector.db import make_engine
from tests.support.tcp_proxy import TcpProxy


class Outage(Protocol):
    """Makes the database unavailable (``cut``) and brings it back (``start``)."""

    def cut(self) -> None: ...

    def start(self) -> None: ...


@pytest.fixture
def outage_engine(migrated_url: str, tmp_path: Path) -> Iterator[tuple[Engine, Outage]]:
    """An engine whose database can be made unavailable and brought back.

    SQLite: another connection holds an exclusive lock (the file is 'locked').
    PostgreSQL: connections go through a TCP proxy that is cut and restored.
    """
    url = make_url(migrated_url)
    if url.drivername.startswith("sqlite"):
        engine = make_engine(migrated_url, busy_timeout_ms=50)
        yield engine, _SqliteLock(url.database or "")
    else:
        proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        proxy.start()
        proxied = url.set(host="127.0.0.1", port=proxy.port)
        engine = make_engine(proxied.render_as_string(hide_password=False), pool_pre_ping=True)
        yield engine, proxy
        proxy.close()
    engine.dispose()


class _SqliteLock:
    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def cut(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("BEGIN EXCLUSIVE")

    def start(self) -> None:
        assert self.conn is not None
        self.conn.execute("ROLLBACK")
        self.conn.close()
