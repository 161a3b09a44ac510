"""SQLite WAL checkpoints in a thread of their own, so the recorder's writer never runs one.

SQLite checkpoints automatically inside the commit that takes the WAL past 1,000 pages: the
committing thread copies the WAL's pages into the database file and fsyncs it, inside the
recorder's write (docs/performance.md gives what that cost). Here a thread with its own
connection runs a PASSIVE checkpoint (it never blocks writers or readers) whenever the WAL
changed, at most every ``interval_s``;
sqlite3 releases the GIL while it copies and syncs, so the work runs beside the writer.

The engine's connections keep an auto-checkpoint, at ``backstop_pages``, so the WAL stays
bounded if this thread falls behind (or a reader pins old pages); once stopped, connections
return to SQLite's default of 1,000 pages on their next checkout.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event

from collector.dbapi import WalCheckpointThread, is_plain_file

SQLITE_DEFAULT_PAGES = 1000
_INFO_KEY = "spendscope_wal_autocheckpoint"


class WalCheckpointer:
    """Checkpoints one SQLite database file's WAL from a background thread."""

    def __init__(
        self,
        engine: Engine,
        path: str,
        *,
        interval_s: float = 0.1,
        backstop_pages: int = 10 * SQLITE_DEFAULT_PAGES,
    ) -> None:
        if interval_s <= 0 or backstop_pages < 1:
            raise ValueError("interval_s must be > 0 and backstop_pages >= 1")
        self.engine = engine
        self.path = path
        self.interval_s = interval_s
        self.backstop_pages = backstop_pages
        self._thread = WalCheckpointThread(path, interval_s)
        self._listening = False

    @classmethod
    def for_engine(cls, engine: Engine, **kwargs: Any) -> WalCheckpointer | None:
        """A checkpointer for a file-backed SQLite engine; None for anything else."""
        if engine.dialect.name != "sqlite":
            return None
        database = engine.url.database
        if database is None or not is_plain_file(database):
            return None
        return cls(engine, database, **kwargs)

    @property
    def running(self) -> bool:
        return self._thread.running

    @property
    def checkpoints(self) -> int:
        """Checkpoints run (tests, diagnostics)."""
        return self._thread.checkpoints

    def start(self) -> None:
        if not self._listening:
            event.listen(self.engine, "checkout", self._on_checkout)
            self._listening = True
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after one last checkpoint (what it had not copied yet)."""
        self._thread.stop()

    def _on_checkout(self, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        """Each pooled connection's auto-checkpoint: the backstop while running, else default."""
        pages = self.backstop_pages if self._thread.active else SQLITE_DEFAULT_PAGES
        if record.info.get(_INFO_KEY, SQLITE_DEFAULT_PAGES) != pages:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")
            finally:
                cursor.close()
            record.info[_INFO_KEY] = pages
