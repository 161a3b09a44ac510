"""Nothing a batch does ends the write loop, and nothing is lost or silent while it struggles.

Before: a pickling RecursionError (deep metadata) or an ENOSPC from the spool, raised inside
the loop's own error handling, ended the write loop for good while ``/healthz`` said ok.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from collector.db import Request
from collector.errors import StorageError
from collector.recorder import Recorder, RecorderConfig, UsageEvent, WriterProcess
from collector.recorder import service as service_module
from tests.factories import make_event
from tests.recorder.test_storable import _deep

FAST = RecorderConfig(
    batch_size=50, flush_interval_s=0.01, replay_interval_s=0.05, hold_pause_s=0.05
)


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Request)) or 0


async def _until(check: Any, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


def test_deep_metadata_then_normal_requests_through_the_writer_process(
    engine: Engine, migrated_url: str, tmp_path: Path
) -> None:
    async def run() -> Recorder:
        recorder = Recorder(engine, tmp_path / "spool", FAST, WriterProcess(migrated_url))
        await recorder.start()
        recorder.submit(make_event(metadata=_deep(1000)))
        for _ in range(5):
            recorder.submit(make_event())
        await recorder.flush()
        await _until(lambda: _rows(engine) == 6)
        assert recorder.health() == []
        await recorder.stop()
        return recorder

    recorder = asyncio.run(run())
    assert (recorder.stats.written, recorder.stats.sanitised, recorder.stats.dropped) == (6, 1, 0)


class _Down:
    """A writer whose database is down until told otherwise."""

    def __init__(self, engine: Engine) -> None:
        from collector.recorder import InProcessWriter

        self.inner = InProcessWriter(engine)
        self.down = True

    def start(self) -> None:
        self.inner.start()

    def write(self, events: Sequence[UsageEvent], lines: Sequence[bytes] | None = None) -> int:
        if self.down:
            raise StorageError("database down")
        return self.inner.write(events, lines)

    def stop(self) -> None:
        self.inner.stop()


def _full(*_args: Any, **_kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_outage_on_a_full_disk_holds_events_in_memory_and_says_so(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def run() -> Recorder:
        writer = _Down(engine)
        recorder = Recorder(engine, tmp_path / "spool", FAST, writer)
        await recorder.start()
        monkeypatch.setattr(recorder.spool, "append", _full)
        for _ in range(120):
            recorder.submit(make_event())
        await _until(lambda: recorder.stats.spool_failures > 0)
        reasons = recorder.health()
        assert any("spool directory cannot be written" in r for r in reasons), reasons
        assert recorder._writer_task is not None and not recorder._writer_task.done()
        writer.down = False  # the database comes back; the disk is still full
        await _until(lambda: _rows(engine) == 120)
        assert recorder.health() == []
        await recorder.stop()
        return recorder

    recorder = asyncio.run(run())
    assert recorder.stats.dropped == 0
    assert _rows(engine) == 120


def test_past_the_queue_bound_drops_are_counted_never_silent(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = RecorderConfig(queue_size=10, batch_size=5, flush_interval_s=0.01, hold_pause_s=0.05)

    async def run() -> Recorder:
        writer = _Down(engine)
        recorder = Recorder(engine, tmp_path / "spool", config, writer)
        await recorder.start()
        monkeypatch.setattr(recorder.spool, "append", _full)
        for _ in range(25):
            recorder.submit(make_event())
        assert recorder.stats.dropped == 15
        assert any("15 events dropped" in r for r in recorder.health())
        writer.down = False
        await _until(lambda: _rows(engine) == 10)
        await recorder.stop()
        return recorder

    recorder = asyncio.run(run())
    assert recorder.stats.submitted == 25 and _rows(engine) == 10


def test_a_dead_write_loop_is_restarted(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even an error inside the loop's own error handling ends only that loop, which the
    supervisor starts again."""
    failures = {"take": 1, "log": 1}
    real_take = Recorder._take

    def take(self: Recorder) -> Any:
        if failures["take"]:
            failures["take"] -= 1
            raise RuntimeError("a bug while taking a batch")
        return real_take(self)

    class _Log:
        def __getattr__(self, name: str) -> Any:
            return getattr(logging.getLogger(service_module.__name__), name)

        def exception(self, *args: Any, **kwargs: Any) -> None:
            if failures["log"]:
                failures["log"] -= 1
                raise RuntimeError("the handler failed too")

    monkeypatch.setattr(Recorder, "_take", take)
    monkeypatch.setattr(service_module, "log", _Log())

    async def run() -> Recorder:
        recorder = Recorder(engine, tmp_path / "spool", FAST)
        await recorder.start()
        for _ in range(30):
            recorder.submit(make_event())
        await _until(lambda: _rows(engine) == 30)
        await recorder.stop()
        return recorder

    recorder = asyncio.run(run())
    assert recorder.stats.loop_restarts == 1
    assert _rows(engine) == 30


def test_health_names_a_lagging_record(engine: Engine, tmp_path: Path) -> None:
    config = RecorderConfig(flush_interval_s=600.0, lag_bound_s=0.05)

    async def run() -> list[str]:
        recorder = Recorder(engine, tmp_path / "spool", config)
        await recorder.start()
        recorder.submit(make_event())
        await asyncio.sleep(0.1)
        reasons = recorder.health()
        await recorder.stop()
        return reasons

    reasons = asyncio.run(run())
    assert any("to be written (bound 0.05 s)" in r for r in reasons), reasons
