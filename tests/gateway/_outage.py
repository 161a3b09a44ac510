"""A database outage for gateway tests: SQLite made unwritable, PostgreSQL cut off.

SQLite: another connection holds ``BEGIN EXCLUSIVE`` (writes fail as "locked", readers still
read). PostgreSQL: the gateway's URL goes through a TCP proxy that is cut and restored.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import make_url

from tests.support.tcp_proxy import TcpProxy


class Outage:
    """Makes the gateway's database unwritable (SQLite) or unreachable (PostgreSQL)."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.proxy: TcpProxy | None = None
        self.lock: sqlite3.Connection | None = None
        self.path = parsed.database or ""
        self.url = url
        self.down = False
        if parsed.drivername.startswith("postgresql"):
            self.proxy = TcpProxy("127.0.0.1", parsed.port or 5432)
            self.proxy.start()
            self.url = parsed.set(host="127.0.0.1", port=self.proxy.port).render_as_string(False)

    def cut(self) -> None:
        self.down = True
        if self.proxy is not None:
            self.proxy.cut()
        else:
            self.lock = sqlite3.connect(self.path, isolation_level=None)
            self.lock.execute("BEGIN EXCLUSIVE")

    def restore(self) -> None:
        if not self.down:
            return
        self.down = False
        if self.proxy is not None:
            self.proxy.start()
        elif self.lock is not None:
            self.lock.execute("ROLLBACK")
            self.lock.close()
            self.lock = None
