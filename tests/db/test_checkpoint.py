"""Background WAL checkpoints: the writer's connections stop checkpointing, the thread does it."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from collector.db import make_engine
from collector.db.checkpoint import SQLITE_DEFAULT_PAGES, WalCheckpointer
from collector.recorder import Recorder, RecorderConfig, write_batch
from collector.recorder.sink import InProcessWriter
from tests.factories import make_event
from tests.support.templates import migrate


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'ckpt.db'}"
    migrate(url)
    return make_engine(url)


def _autocheckpoint(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def _requests_in_main_file(path: str, scratch: Path) -> int:
    """Requests in the database file itself, i.e. what checkpoints have copied out of the WAL."""
    copy = scratch / f"main-{time.monotonic_ns()}.db"
    shutil.copyfile(path, copy)  # without its -wal: only checkpointed pages are seen
    conn = sqlite3.connect(copy)
    try:
        return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])
    finally:
        conn.close()


def _wal_pages(path: str) -> int:
    page = 4096
    return (os.path.getsize(path + "-wal") - 32) // (page + 24)


def test_only_file_backed_sqlite_gets_one(tmp_path: Path) -> None:
    assert WalCheckpointer.for_engine(make_engine("sqlite://")) is None
    assert WalCheckpointer.for_engine(make_engine("sqlite:///:memory:")) is None
    pg = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert WalCheckpointer.for_engine(pg) is None
    found = WalCheckpointer.for_engine(make_engine(f"sqlite:///{tmp_path / 'x.db'}"))
    assert found is not None and found.path == str(tmp_path / "x.db")
    with pytest.raises(ValueError, match="interval_s"):
        WalCheckpointer(make_engine("sqlite://"), "x", interval_s=0)


def test_writer_connections_leave_checkpoints_to_the_thread(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    checkpointer = WalCheckpointer.for_engine(sqlite_engine, interval_s=0.01, backstop_pages=50_000)
    assert checkpointer is not None
    assert _autocheckpoint(sqlite_engine) == SQLITE_DEFAULT_PAGES
    checkpointer.start()
    try:
        assert _autocheckpoint(sqlite_engine) == 50_000
        for _ in range(6):  # ~1,500 pages of WAL: SQLite alone would checkpoint inline
            write_batch(sqlite_engine, [make_event(tags={"t": "x"}) for _ in range(500)])
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.checkpoints > 0
    finally:
        checkpointer.stop()
    assert not checkpointer.running
    assert _requests_in_main_file(checkpointer.path, tmp_path) == 3000  # all copied out
    assert _autocheckpoint(sqlite_engine) == SQLITE_DEFAULT_PAGES  # back to SQLite's default
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM requests")).scalar_one() == 3000


def test_inline_checkpoints_never_happen_while_it_runs(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """With the thread waiting, the writer's commits leave every page in the WAL."""
    checkpointer = WalCheckpointer.for_engine(sqlite_engine, interval_s=3600)
    assert checkpointer is not None
    checkpointer.start()
    try:
        for _ in range(12):
            write_batch(sqlite_engine, [make_event() for _ in range(500)])
        assert _wal_pages(checkpointer.path) > SQLITE_DEFAULT_PAGES
        assert _requests_in_main_file(checkpointer.path, tmp_path) == 0
    finally:
        checkpointer.stop()  # wakes the thread: one last checkpoint
    assert _requests_in_main_file(checkpointer.path, tmp_path) == 6000


def test_an_unopenable_file_leaves_sqlite_checkpointing_inline(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'not-yet.db'}")  # not created by the thread
    checkpointer = WalCheckpointer.for_engine(engine, interval_s=0.01)
    assert checkpointer is not None
    checkpointer.start()  # the thread logs and ends
    with engine.connect() as conn:  # so connections keep SQLite's own checkpoints
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 1000
    checkpointer.stop()
    assert checkpointer.checkpoints == 0


def test_the_recorder_runs_one_on_sqlite_and_stops_it(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    async def run() -> WalCheckpointer | None:
        config = RecorderConfig(batch_size=100, flush_interval_s=0.01)
        recorder = Recorder(sqlite_engine, tmp_path / "spool", config)
        await recorder.start()
        writer = recorder.writer
        assert isinstance(writer, InProcessWriter)
        checkpointer = writer.checkpointer
        assert checkpointer is not None and checkpointer.running
        for _ in range(300):
            recorder.submit(make_event())
        await recorder.flush()
        await recorder.stop()
        return checkpointer

    checkpointer = asyncio.run(run())
    assert checkpointer is not None and not checkpointer.running
    assert _requests_in_main_file(checkpointer.path, tmp_path) == 300
