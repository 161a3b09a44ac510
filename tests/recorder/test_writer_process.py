"""The writer process: batches cross the pipe exactly, and a child that dies, hangs up or never
starts loses nothing (the batch is spooled and replayed; replays are idempotent)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from collector.db import make_engine
from collector.errors import StorageError
from collector.recorder import (
    AttemptEvent,
    PoisonBatch,
    Recorder,
    RecorderConfig,
    UsageEvent,
    WriterProcess,
)
from collector.recorder._wire import WireError, receive, send
from collector.recorder.codec import decode_batch, encode
from tests.factories import T0, make_event
from tests.recorder.test_recorder import counts

FAST = RecorderConfig(
    queue_size=10_000, batch_size=50, flush_interval_s=0.01, replay_interval_s=0.05
)


def _varied() -> list[UsageEvent]:
    t = datetime(2026, 11, 30, 23, 59, 59, 999_999, tzinfo=UTC)
    return [
        make_event(),
        make_event(started_at=t, cost_usd=Decimal("1.2300"), audio_seconds=Decimal("7.50")),
        make_event(cost_usd=None, cost_source="unpriced", tags={"team": "a"}, metadata={"k": [1]}),
        make_event(cost_usd=Decimal("-0"), ttft_ms=3.25, stream=True, batch=True),
        make_event(cost_usd=Decimal("1E-10"), end_user="ü", error_message="x" * 300),
        # not UTC: sent as itself
        make_event(started_at=datetime(2026, 1, 1, 5, tzinfo=timezone(timedelta(hours=5)))),
        make_event(
            attempts=[
                AttemptEvent(1, t, 5.0, "m", "primary", 429, "rate_limit", "slow", 0, 0, None),
                AttemptEvent(2, t + timedelta(microseconds=1), 7.5, cost_usd=Decimal("0.10")),
            ]
        ),
        make_event(attempts=[]),
    ]


def test_events_cross_the_wire_exactly() -> None:
    events = [*_varied(), make_event(started_at=datetime(2026, 1, 1, 5))]  # naive too
    back = decode_batch(b"".join(encode(e) for e in events))
    assert back == events
    for a, b in zip(events, back, strict=True):
        assert repr(a) == repr(b)  # same types and the same Decimal digits (1.2300 stays)
        assert a.started_at.tzinfo == b.started_at.tzinfo


def test_frames_round_trip_and_a_closed_pipe_is_a_wire_error() -> None:
    r, w = os.pipe()
    send(w, b"abc")
    send(w, b"")
    assert receive(r) == b"abc"
    assert receive(r) == b""
    os.close(w)
    with pytest.raises(WireError):
        receive(r)
    os.close(r)


def test_a_garbage_length_is_a_wire_error() -> None:
    r, w = os.pipe()
    os.write(w, b"\xff\xff\xff\xff")
    with pytest.raises(WireError):
        receive(r)
    os.close(r)
    os.close(w)


def test_the_child_writes_and_replays_are_idempotent(migrated_url: str, engine: Engine) -> None:
    writer = WriterProcess(migrated_url)
    writer.start()
    try:
        events = [make_event() for _ in range(120)]
        assert writer.write(events) == 120
        assert writer.write(events[:60]) == 0
        assert writer.write(_varied()) == len(_varied())
        assert writer.pid is not None and writer.pid != os.getpid()
    finally:
        writer.stop()
    assert counts(engine)[:2] == (120 + 8, 120 + 8)


def test_poison_comes_back_as_poison(migrated_url: str) -> None:
    writer = WriterProcess(migrated_url)
    writer.start()
    try:
        with pytest.raises(PoisonBatch):
            writer.write([make_event(), make_event(project_id=424242)])  # no such project
        assert writer.write([make_event()]) == 1  # the same child goes on
        assert writer.spawned == 1
    finally:
        writer.stop()


def test_a_killed_child_fails_the_batch_and_a_new_one_starts(
    migrated_url: str, engine: Engine
) -> None:
    writer = WriterProcess(migrated_url, respawn_after_s=0.2)
    writer.start()
    try:
        assert writer.write([make_event()]) == 1
        pid = writer.pid
        assert pid is not None
        time.sleep(0.25)  # past the respawn pause of the first start (a child starts in ~50 ms)
        os.kill(pid, signal.SIGKILL)
        failures = 0
        deadline = time.monotonic() + 10
        while True:  # the batch in flight fails, or (child already reaped) a new child takes it
            try:
                assert writer.write([make_event()]) == 1
                break
            except StorageError:
                failures += 1
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert failures <= 2
        assert writer.spawned == 2 and writer.pid != pid
    finally:
        writer.stop()
    assert counts(engine)[0] == 2  # the failed tries wrote nothing


def test_the_child_ignores_sigterm_and_ends_when_its_pipe_closes(migrated_url: str) -> None:
    writer = WriterProcess(migrated_url)
    writer.start()
    pid = writer.pid
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    os.kill(pid, signal.SIGINT)
    time.sleep(0.2)
    assert writer.write([make_event()]) == 1  # still there: the gateway drains through it
    writer.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_child_that_cannot_start_sends_batches_to_the_spool(tmp_path: Path) -> None:
    submitted = _varied() + [make_event() for _ in range(12)]

    async def run() -> Recorder:
        writer = WriterProcess("notadb://", respawn_after_s=0.05)
        unused = make_engine(f"sqlite:///{tmp_path / 'unused.db'}")
        recorder = Recorder(unused, tmp_path / "spool", FAST, writer)
        await recorder.start()
        for e in submitted:
            recorder.submit(e)
        await recorder.flush()
        await recorder.stop()
        return recorder

    recorder = asyncio.run(run())
    assert recorder.stats.written == 0
    assert recorder.stats.spooled == len(submitted) == 20
    spooled: list[UsageEvent] = []
    recorder.spool.replay(lambda events, lines: spooled.extend(events))
    # encoded as they arrived, decoded from the spool: the very same events
    assert sorted(spooled, key=lambda e: e.id) == sorted(submitted, key=lambda e: e.id)


def test_a_poison_event_is_quarantined_through_the_child(
    migrated_url: str, engine: Engine, tmp_path: Path
) -> None:
    poison = make_event(project_id=424242)  # no such project: the FK rejects it

    async def run() -> Recorder:
        recorder = Recorder(engine, tmp_path / "spool", FAST, WriterProcess(migrated_url))
        await recorder.start()
        for e in [*(make_event() for _ in range(5)), poison, *(make_event() for _ in range(4))]:
            recorder.submit(e)
        await recorder.flush()
        await recorder.stop()
        return recorder

    recorder = asyncio.run(run())
    assert counts(engine)[0] == 9
    assert recorder.stats.quarantined == 1
    quarantined = list((tmp_path / "spool" / "quarantine").iterdir())
    assert len(quarantined) == 1 and poison.id in quarantined[0].read_text()


def test_a_child_killed_mid_stream_loses_nothing(
    migrated_url: str, engine: Engine, tmp_path: Path
) -> None:
    """Kill the writer process over and over while events stream in: rows == events.

    Rounds of 1,500 events go on until some kill has landed on a batch in flight (it was
    spooled), at most five: where a kill lands is up to the scheduler."""

    async def run() -> tuple[Recorder, int]:
        writer = WriterProcess(migrated_url, respawn_after_s=0.05)
        recorder = Recorder(engine, tmp_path / "spool", FAST, writer)
        await recorder.start()
        sent = 0
        for _ in range(5):
            for i in range(sent, sent + 1500):  # timed: untimed events would move later tests'
                recorder.submit(make_event(started_at=T0 + timedelta(milliseconds=i)))
                if i % 100 == 50 and writer.pid is not None:  # often: some kill lands mid-batch
                    os.kill(writer.pid, signal.SIGKILL)
                if i % 50 == 0:
                    await asyncio.sleep(0.01)
            sent += 1500
            for _ in range(600):  # the spool replays every 0.05 s; 30 s at most
                if counts(engine)[0] >= sent:
                    break
                await asyncio.sleep(0.05)
            if recorder.stats.spooled:
                break
        await recorder.flush()
        await recorder.stop()
        return recorder, sent

    recorder, sent = asyncio.run(run())
    requests, distinct, rolled, _ = counts(engine)
    assert (requests, distinct, rolled) == (sent, sent, sent)
    assert recorder.stats.spooled > 0  # the kills did hit batches in flight
    assert isinstance(recorder.writer, WriterProcess) and recorder.writer.spawned > 1
