"""SQLite WAL checkpoints in a thread of their own, so the recorder's writer never runs one.

SQLite checkpoints automatically inside the commit that takes the WAL past 1,000 pages: the
committing thread copies the WAL's pages into the database file and fsyncs it. For the
recorder that was ~15 % of its wall time at batch 5,000 (``bench/bench_recorder.py`` with and
without auto-checkpoints). Here a thread with its own connection runs a PASSIVE checkpoint
(it never blocks writers or readers) whenever the WAL changed, at most every ``interval_s``;
sqlite3 releases the GIL while it copies and syncs, so the work runs beside the writer.

The engine's connections keep an auto-checkpoint, at ``backstop_pages``, so the WAL stays
bounded if this thread falls behind (or a reader pins old pages); once stopped, connections
return to SQLite's default of 1,000 pages on their next checkout.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

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
        self.checkpoints = 0  # checkpoints run (tests, diagnostics)
        self._stop = threading.Event()
        self._ready = threading.Event()  # the thread has opened its connection (or failed to)
        self._active = False  # the thread is checkpointing: connections use the backstop
        self._thread: threading.Thread | None = None
        self._listening = False

    @classmethod
    def for_engine(cls, engine: Engine, **kwargs: Any) -> WalCheckpointer | None:
        """A checkpointer for a file-backed SQLite engine; None for anything else."""
        if engine.dialect.name != "sqlite":
            return None
        database = engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return cls(engine, database, **kwargs)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is not None:
            return
        if not self._listening:
            event.listen(self.engine, "checkout", self._on_checkout)
            self._listening = True
        self._stop.clear()
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def stop(self) -> None:
        """Stop the thread after one last checkpoint (what it had not copied yet)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()

    def _on_checkout(self, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        """Each pooled connection's auto-checkpoint: the backstop while running, else default."""
        pages = self.backstop_pages if self._active else SQLITE_DEFAULT_PAGES
        if record.info.get(_INFO_KEY, SQLITE_DEFAULT_PAGES) != pages:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")
            finally:
                cursor.close()
            record.info[_INFO_KEY] = pages

    def _run(self) -> None:
        try:
            uri = f"file:{quote(self.path)}?mode=rw"  # never creates a database
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            log.warning("wal checkpointer: cannot open %s (%s): inline checkpoints", self.path, exc)
            self._ready.set()
            return
        self._active = True
        self._ready.set()
        try:
            seen: tuple[int, int] | None = None
            stopping = False
            while not stopping:
                stopping = self._stop.wait(self.interval_s)
                mark = _wal_mark(self.path + "-wal")
                if mark is None or mark == seen:
                    continue
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # locked, disk full: the next round retries
                    log.info("wal checkpointer: checkpoint deferred: %s", exc)
                    continue
                self.checkpoints += 1
                seen = mark  # a checkpoint reads the WAL, it never writes it
        finally:
            self._active = False
            conn.close()


def _wal_mark(wal: str) -> tuple[int, int] | None:
    """The WAL file's (modification time, size): changed means new frames to copy."""
    try:
        st = os.stat(wal)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
