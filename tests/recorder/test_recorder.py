"""The recorder loses nothing: outages spool and replay, replays are idempotent, poison is
quarantined, a full queue spills, and shutdown drains."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from collector.db import Attempt, Request, hourly_rollups, hourly_tag_rollups
from collector.recorder import Recorder, RecorderConfig, Spool, _batch, write_batch
from collector.recorder import writer as writer_module
from collector.recorder.codec import encode
from tests.factories import make_event
from tests.recorder.conftest import Outage
from tests.support.wait import until

FAST = RecorderConfig(
    queue_size=10_000, batch_size=50, flush_interval_s=0.01, replay_interval_s=0.05
)


def counts(engine: Engine) -> tuple[int, int, int, Decimal]:
    with engine.connect() as conn:
        requests = conn.scalar(select(func.count()).select_from(Request)) or 0
        distinct = conn.scalar(select(func.count(func.distinct(Request.id)))) or 0
        rolled = conn.scalar(select(func.coalesce(func.sum(hourly_rollups.c.requests), 0))) or 0
        cost = conn.scalar(select(func.sum(hourly_rollups.c.cost_usd))) or Decimal(0)
    return requests, distinct, rolled, cost


def test_write_batch_is_idempotent(engine: Engine) -> None:
    events = [make_event(tags={"team": "ml"}) for _ in range(30)]
    assert write_batch(engine, events) == 30
    assert write_batch(engine, events) == 0
    assert write_batch(engine, [*events[:10], make_event()]) == 1
    requests, distinct, rolled, cost = counts(engine)
    assert (requests, distinct, rolled) == (31, 31, 31)
    assert cost == Decimal("0.0000270000") * 31
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Attempt)) == 31
        assert conn.scalar(select(func.sum(hourly_tag_rollups.c.requests))) == 30


def test_rollup_counts_retries_and_buckets(engine: Engine) -> None:
    from collector.recorder import AttemptEvent
    from tests.factories import T0

    failed = AttemptEvent(1, T0, 30.0, http_status=429, cost_usd=Decimal("0.001"))
    ok = AttemptEvent(2, T0, 90.0, http_status=200)
    rescued = make_event(attempts=[failed, ok], duration_ms=130.0, ttft_ms=40.0, started_at=T0)
    plain = make_event(duration_ms=20.0, started_at=T0)
    write_batch(engine, [rescued, plain])
    with engine.connect() as conn:
        row = conn.execute(select(hourly_rollups)).mappings().one()
    assert row["requests"] == 2
    assert (row["retried_requests"], row["retry_rescued"]) == (1, 1)
    assert (row["attempts"], row["failed_attempts"]) == (3, 1)
    assert row["failed_attempt_cost_usd"] == Decimal("0.001")
    assert row["lat_b02"] == 1 and row["lat_b06"] == 1  # 20 ms in (10,25], 130 ms in (100,150]
    assert row["ttft_count"] == 1 and row["ttft_b03"] == 1


async def test_recorder_writes_everything(engine: Engine, tmp_path: Path) -> None:
    recorder = Recorder(engine, tmp_path / "spool", FAST)
    await recorder.start()
    for _ in range(500):
        recorder.submit(make_event())
    await recorder.flush()
    await recorder.stop()
    assert counts(engine)[:3] == (500, 500, 500)
    assert recorder.stats.written == 500 and recorder.stats.spooled == 0


async def test_batches_are_written_with_quick_thread_switches(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the worker thread writes, the event loop waits far less than CPython's default
    5 ms for the GIL (that wait set the gateway's p99); afterwards the default is back."""
    seen: list[float] = []
    write_events = _batch.write_events  # what the writer module calls

    def note(*args: Any) -> int:
        seen.append(sys.getswitchinterval())
        return write_events(*args)

    monkeypatch.setattr(writer_module, "write_events", note)
    default = sys.getswitchinterval()
    recorder = Recorder(engine, tmp_path / "spool", FAST)
    await recorder.start()
    for _ in range(3):
        recorder.submit(make_event())
    await recorder.flush()
    await recorder.stop()
    during = list(seen)
    assert counts(engine)[0] == 3
    assert during and max(during) <= 0.0001 < default
    assert sys.getswitchinterval() == default


async def test_poison_event_is_quarantined_others_written(engine: Engine, tmp_path: Path) -> None:
    recorder = Recorder(engine, tmp_path / "spool", FAST)
    await recorder.start()
    good = [make_event() for _ in range(9)]
    poison = make_event(project_id=424242)  # no such project: the FK rejects it
    for e in [*good[:4], poison, *good[4:]]:
        recorder.submit(e)
    await recorder.flush()
    await recorder.stop()
    assert counts(engine)[0] == 9
    assert recorder.stats.quarantined == 1
    quarantined = list((tmp_path / "spool" / "quarantine").iterdir())
    assert len(quarantined) == 1 and poison.id in quarantined[0].read_text()


async def test_an_unbindable_value_is_poison_not_a_dead_writer(
    engine: Engine, tmp_path: Path
) -> None:
    recorder = Recorder(engine, tmp_path / "spool", FAST)
    await recorder.start()
    naive = make_event(started_at=datetime(2026, 11, 1, 12))  # no timezone: the column refuses
    for e in [make_event(), naive, make_event()]:
        recorder.submit(e)
    await recorder.flush()
    recorder.submit(make_event())  # the writer loop is still alive
    await recorder.flush()
    await recorder.stop()
    assert counts(engine)[0] == 3
    assert recorder.stats.quarantined == 1


async def test_full_queue_spills_to_spool_and_replays(engine: Engine, tmp_path: Path) -> None:
    config = RecorderConfig(queue_size=10, batch_size=10, flush_interval_s=0.01,
                            replay_interval_s=0.05)  # fmt: skip
    recorder = Recorder(engine, tmp_path / "spool", config)
    await recorder.start()
    for _ in range(200):  # submitted without yielding: the queue overflows
        recorder.submit(make_event())
    assert recorder.stats.overflowed > 0
    await recorder.flush()
    await until(lambda: counts(engine)[0] == 200, seconds=60, what="the spool replayed")
    await recorder.stop()
    assert counts(engine)[:3] == (200, 200, 200)


def test_corrupt_spool_file_is_quarantined(engine: Engine, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append([encode(make_event())])
    (tmp_path / "spool" / "00000000000000000001-1-000000.batch.json").write_text("{not json")
    spool.append([encode(make_event())])
    replayed = spool.replay(lambda events, lines: write_batch(engine, events))
    assert replayed == 2
    assert counts(engine)[0] == 2
    assert [p.name for p in (tmp_path / "spool" / "quarantine").iterdir()] == [
        "00000000000000000001-1-000000.batch.json"
    ]
    assert spool.pending() == []


async def test_outage_mid_stream_loses_nothing(
    outage_engine: tuple[Engine, Outage], tmp_path: Path
) -> None:
    engine, outage = outage_engine
    recorder = Recorder(engine, tmp_path / "spool", FAST)
    await recorder.start()
    events = [make_event() for _ in range(600)]
    for i, event in enumerate(events):
        if i == 200:
            outage.cut()
        if i == 400:
            outage.start()
        recorder.submit(event)
        if i % 20 == 0:
            await asyncio.sleep(0.02)
    await recorder.flush()
    await until(lambda: not recorder.degraded and counts(engine)[0] == 600, seconds=60,
                what="recovered, every event written")  # fmt: skip
    await recorder.stop()
    assert recorder.stats.spooled > 0, "the outage should have sent batches to the spool"
    assert counts(engine)[:3] == (600, 600, 600)
    assert Spool(tmp_path / "spool").pending() == []


async def test_replayed_spool_at_start_is_idempotent(engine: Engine, tmp_path: Path) -> None:
    events = [make_event() for _ in range(40)]
    write_batch(engine, events[:25])  # written, but the spool still holds them (lost ack)
    Spool(tmp_path / "spool").append([encode(e) for e in events])
    recorder = Recorder(engine, tmp_path / "spool", FAST)
    await recorder.start()
    await recorder.stop()
    assert counts(engine)[:3] == (40, 40, 40)


@pytest.mark.parametrize("how", ["stop", "flush"])
def test_stop_and_flush_write_at_once_whatever_the_flush_interval(
    engine: Engine, tmp_path: Path, how: str
) -> None:
    """A batch gathering for its flush interval is written as soon as the recorder is stopped
    or flushed: not spooled after the shutdown timeout, not held for the interval."""
    config = RecorderConfig(flush_interval_s=600.0, shutdown_timeout_s=30.0)

    async def run() -> Recorder:
        recorder = Recorder(engine, tmp_path / "spool", config)
        await recorder.start()
        for _ in range(3):
            recorder.submit(make_event())
        await asyncio.sleep(0.05)  # the writer is gathering now
        if how == "flush":
            await recorder.flush(wait_s=20)
            assert recorder.stats.written == 3
        await recorder.stop()
        return recorder

    recorder = asyncio.run(run())
    assert recorder.stats.spooled == 0
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Request)) == 3
