"""Database connections below SQLAlchemy: what the recorder's writer process needs, and only it.

The writer process imports no SQLAlchemy (~30 MB of a process's memory): it opens its one
DBAPI connection from a :class:`ConnectSpec` the gateway derived from its engine's URL (so
both open the same database the same way), tunes SQLite exactly as :func:`make_engine` does
(the engine's connect hook calls :func:`tune_sqlite` too), and checkpoints the WAL from a
:class:`WalCheckpointThread`, the same thread the in-process writer's checkpointer runs.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

# PostgreSQL's advisory lock that orders the writers of rollup rows. Every recorder batch takes
# it shared, first thing in its transaction; a reprice batch takes it exclusively before its
# first write. Recorder batches still run side by side (among themselves they lock rollup rows
# in one order: ``recorder._bulk``), but a reprice batch, which moves rollup rows in its own
# order, never holds some of a batch's rows while waiting for others: without it, a reprice of
# recent days beside live recording deadlocked writer batches (PostgreSQL aborted one side:
# the writer spooled, the reprice stopped). SQLite has one writer at a time and needs none.
ROLLUP_WRITERS_LOCK = 0x5370_656E_6452_4F4C  # any 64-bit key, the same in every version
ROLLUP_WRITERS_SHARED = f"SELECT pg_advisory_xact_lock_shared({ROLLUP_WRITERS_LOCK})"
ROLLUP_WRITERS_EXCLUSIVE = f"SELECT pg_advisory_xact_lock({ROLLUP_WRITERS_LOCK})"

# SQLite's page cache per connection (PRAGMA cache_size, in KiB): large enough for the
# recorder's index inserts at the right edge of every index, and what the engines use
ENGINE_CACHE_KIB = 65536

# CPython's sqlite3 binds int, float, str and bytearray directly but sends every other
# parameter, None included, through its adapter lookup, which for None ends in raising and
# clearing an AttributeError (a formatted message) per parameter: ~13 % of the recorder's
# instructions (callgrind), the rows being full of NULLs. A registered adapter is found in
# the adapter table first; ``{}.get`` returns None for None, so NULL is still bound.
_NOTHING: dict[None, None] = {}
sqlite3.register_adapter(type(None), _NOTHING.get)


@dataclass(frozen=True)
class ConnectSpec:
    """How to open one DBAPI connection: ``driver`` is ``sqlite`` or ``psycopg``; ``args`` and
    ``kwargs`` go to the driver's ``connect``. ``wal_path`` is the SQLite file whose WAL a
    :class:`WalCheckpointThread` may checkpoint (None: in memory, or not SQLite)."""

    driver: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    busy_timeout_ms: int = 5000
    cache_kib: int = ENGINE_CACHE_KIB
    wal_path: str | None = None


def connect(spec: ConnectSpec) -> Any:
    """A DBAPI connection for ``spec`` (SQLite tuned by :func:`tune_sqlite`)."""
    if spec.driver == "sqlite":
        conn = sqlite3.connect(*spec.args, **spec.kwargs)
        tune_sqlite(conn, spec.busy_timeout_ms, spec.cache_kib)
        return conn
    if spec.driver == "psycopg":
        import psycopg  # only a PostgreSQL writer pays for the import

        return psycopg.connect(*spec.args, **spec.kwargs)
    raise ValueError(f"unsupported database driver {spec.driver!r}")


def is_plain_file(database: str | None) -> bool:
    """Whether a SQLite URL's database is a plain file, whose WAL a thread may checkpoint
    (not in memory, not a ``file:`` URI, which may be either)."""
    return bool(database) and database != ":memory:" and not str(database).startswith("file:")


def tune_sqlite(dbapi_conn: Any, busy_timeout_ms: int, cache_kib: int = ENGINE_CACHE_KIB) -> None:
    """WAL (for a file), foreign keys, a busy timeout, NORMAL sync and the page cache."""
    cursor = dbapi_conn.cursor()
    try:
        if not is_memory(dbapi_conn):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
    finally:
        cursor.close()


def is_memory(dbapi_conn: Any) -> bool:
    """Whether a SQLite connection's main database lives in memory (it has no file)."""
    cursor = dbapi_conn.cursor()
    try:
        rows = cursor.execute("PRAGMA database_list").fetchall()
    finally:
        cursor.close()
    return any(row[1] == "main" and not row[2] for row in rows)


class WalCheckpointThread:
    """PASSIVE checkpoints of one SQLite file's WAL, from a thread with its own connection.

    Runs one whenever the WAL changed, at most every ``interval_s`` (PASSIVE never blocks a
    writer or a reader; sqlite3 releases the GIL while it copies and syncs), and a last one
    on :meth:`stop`. ``active`` is true while the thread holds its connection.
    """

    def __init__(self, path: str, interval_s: float = 0.1) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.path = path
        self.interval_s = interval_s
        self.checkpoints = 0  # checkpoints run (tests, diagnostics)
        self.active = False
        self._stop = threading.Event()
        self._ready = threading.Event()  # the thread has opened its connection (or failed to)
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is not None:
            return
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

    def _run(self) -> None:
        try:
            uri = f"file:{quote(self.path)}?mode=rw"  # never creates a database
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            log.warning("wal checkpointer: cannot open %s (%s): inline checkpoints", self.path, exc)
            self._ready.set()
            return
        self.active = True
        self._ready.set()
        try:
            seen: tuple[int, int] | None = None
            stopping = False
            while not stopping:
                stopping = self._stop.wait(self.interval_s)
                mark = _wal_mark(self.path + "-wal")
                # The last round always runs: a commit made visible (in the WAL index) after
                # the round that saw its frames' bytes leaves the WAL file's mark unchanged.
                if mark is None or (mark == seen and not stopping):
                    continue
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # locked, disk full: the next round retries
                    log.info("wal checkpointer: checkpoint deferred: %s", exc)
                    continue
                self.checkpoints += 1
                seen = mark  # a checkpoint reads the WAL, it never writes it
        finally:
            self.active = False
            conn.close()


def _wal_mark(wal: str) -> tuple[int, int] | None:
    """The WAL file's (modification time, size): changed means new frames to copy."""
    try:
        st = os.stat(wal)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
