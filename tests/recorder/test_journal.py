"""The journal: a process killed with SIGKILL loses none of the events it took in.

Each kill test starts a recorder in a process of its own that takes events in and writes
none (its flush interval is ten minutes), kills it, and counts the rows that the next
recorder on the same spool directory — started after the kill, or already running beside
it — recovers from the dead process's journal.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from collector.db import Request
from collector.recorder import Recorder, RecorderConfig
from collector.recorder.journal import SUFFIX, Journal
from tests.factories import make_event

ROOT = Path(__file__).resolve().parents[2]
FAST = RecorderConfig(batch_size=100, flush_interval_s=0.01, replay_interval_s=0.1)


def _stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(select(Request.id)))


def _take_in_then_die(url: str, spool: Path, count: int, *, many: bool = False) -> list[str]:
    """Run kill_script.py until it has taken ``count`` events in, then SIGKILL it (``many``:
    taken in a hundred at a time, with ``submit_many``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = str(Path(__file__).with_name("kill_script.py"))
    proc = subprocess.Popen(
        [sys.executable, script, url, str(spool), str(count), *(["many"] if many else [])],
        stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    ids = proc.stdout.readline().split()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert len(ids) == count
    return ids


@pytest.mark.parametrize("many", [False, True], ids=["one_by_one", "submit_many"])
def test_a_killed_process_loses_nothing_it_took_in(
    engine: Engine, migrated_url: str, tmp_path: Path, many: bool
) -> None:
    spool = tmp_path / "spool"
    ids = _take_in_then_die(migrated_url, spool, 500, many=many)
    assert not _stored_ids(engine) & set(ids)  # nothing was written before the kill
    assert len(list((spool / "journal").glob(f"*{SUFFIX}"))) == 1

    async def restart() -> Recorder:
        recorder = Recorder(engine, spool, FAST)
        await recorder.start()  # recovers the dead process's journal first
        await recorder.stop()
        return recorder

    recorder = asyncio.run(restart())
    assert set(ids) <= _stored_ids(engine)
    assert recorder.stats.adopted == 500
    assert list((spool / "journal").glob(f"*{SUFFIX}")) == []  # recovered, then deleted


def test_a_live_sibling_recovers_a_dead_process_journal(
    engine: Engine, migrated_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"

    async def run() -> set[str]:
        sibling = Recorder(engine, spool, FAST)
        await sibling.start()
        sibling.submit(make_event())  # its own journal is locked: never adopted by itself
        ids = await asyncio.to_thread(_take_in_then_die, migrated_url, spool, 300)
        for _ in range(200):
            if set(ids) <= _stored_ids(engine):
                break
            await asyncio.sleep(0.1)
        await sibling.stop()
        assert sibling.stats.adopted == 300
        return set(ids)

    ids = asyncio.run(run())
    assert ids <= _stored_ids(engine)
    assert len(_stored_ids(engine)) == 301


def test_a_torn_last_line_costs_only_itself(engine: Engine, tmp_path: Path) -> None:
    """A crash mid-append leaves a partial line: the lines before it are recovered."""
    spool = tmp_path / "spool"

    async def write_then_tear() -> list[str]:
        journal = Journal(spool / "journal")
        from collector.recorder.codec import encode

        events = [make_event() for _ in range(3)]
        for event in events:
            journal.append(encode(event))
        seg = journal._segments[0]
        os.write(seg.fd, encode(make_event())[:40])  # torn
        os.close(seg.fd)  # the process "dies": its lock goes with its descriptor
        return [e.id for e in events]

    ids = asyncio.run(write_then_tear())

    async def recover() -> Recorder:
        recorder = Recorder(engine, spool, FAST)
        await recorder.start()
        await recorder.stop()
        return recorder

    recorder = asyncio.run(recover())
    assert set(ids) == _stored_ids(engine)
    assert recorder.stats.adopted == 3


@pytest.mark.parametrize("many", [False, True], ids=["one", "submit_many"])
def test_fsync_durability_answers_once_the_event_is_on_disk(
    engine: Engine, tmp_path: Path, many: bool
) -> None:
    config = RecorderConfig(flush_interval_s=600.0, durability="fsync")

    async def run() -> tuple[int, int]:
        recorder = Recorder(engine, tmp_path / "spool", config)
        await recorder.start()
        events = [make_event() for _ in range(3)]
        durable = recorder.submit_many(events) if many else recorder.submit(events[0])
        assert durable is not None
        await asyncio.wait_for(durable, 5)
        assert recorder.journal is not None
        seg = recorder.journal._segments[0]
        synced, size = seg.synced, seg.size
        await recorder.stop()
        return synced, size

    synced, size = asyncio.run(run())
    assert synced == size > 0


def test_process_durability_needs_no_wait(engine: Engine, tmp_path: Path) -> None:
    async def run() -> None:
        recorder = Recorder(engine, tmp_path / "spool", FAST)
        await recorder.start()
        assert recorder.submit(make_event()) is None
        await recorder.stop()

    asyncio.run(run())
    assert len(_stored_ids(engine)) == 1
    assert list((tmp_path / "spool" / "journal").glob(f"*{SUFFIX}")) == []
