"""Lines of a re-readable source written straight by the writer process (``direct``): the
pipe carries batches ahead of their answers in order, and whatever the child does not confirm
(refused data, a killed child, a database outage) goes the recorder's ordinary way — rows
equal lines, each once."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from collector.db import make_engine
from collector.errors import StorageError
from collector.recorder import PoisonBatch, Recorder, RecorderConfig, UsageEvent, WriterProcess
from collector.recorder.direct import DirectLines, DirectStats
from collector.recorder.process import Pipeline
from tests.factories import T0, make_event
from tests.recorder.conftest import Outage
from tests.recorder.test_recorder import counts

FAST = RecorderConfig(
    queue_size=10_000, batch_size=50, flush_interval_s=0.01, replay_interval_s=0.05
)


def _events(n: int, first: int = 0) -> list[UsageEvent]:
    return [make_event(started_at=T0 + timedelta(milliseconds=i)) for i in range(first, first + n)]


class _Counted:
    """Counts the lines a recorder's journal is given (the ordinary path journals each)."""

    def __init__(self, recorder: Recorder) -> None:
        journal = recorder.journal
        assert journal is not None
        self.lines, self._append_many = 0, journal.append_many
        journal.append_many = self  # type: ignore[method-assign,assignment]

    def __call__(self, lines: Sequence[bytes]) -> object:
        self.lines += len(lines)
        return self._append_many(lines)


def test_the_pipeline_answers_each_batch_in_order(migrated_url: str, engine: Engine) -> None:
    writer = WriterProcess(migrated_url)
    writer.start()
    first = _events(20)
    try:
        with writer.pipeline() as pipe:
            pipe.send([_line(e) for e in first])
            pipe.send([_line(make_event()), _line(make_event(project_id=424242))])  # FK refuses
            pipe.send([_line(e) for e in first])  # all stored already
            assert pipe.answer() == 20
            with pytest.raises(PoisonBatch):
                pipe.answer()
            assert pipe.answer() == 0
            pipe.send([_line(make_event())])  # left unanswered: the pipe is put back in step
        assert writer.write([make_event()]) == 1
        assert writer.spawned == 1
    finally:
        writer.stop()
    assert counts(engine)[0] == 20 + 1 + 1


def _line(event: UsageEvent) -> bytes:
    from collector.recorder.codec import encode

    return encode(event)


def _run(
    engine: Engine,
    spool: Path,
    writer: WriterProcess | None,
    batches: list[list[UsageEvent]],
    between: Callable[[int, Recorder], object] = lambda i, r: None,
) -> tuple[Recorder, DirectStats, int]:
    """Put each run of events in one DirectLines (``between`` called after each), finish,
    then let the recorder write what it was handed; also returns how many lines the
    journal was given."""

    async def run() -> tuple[Recorder, DirectStats, int]:
        recorder = Recorder(engine, spool, FAST, writer)
        await recorder.start()
        journaled = _Counted(recorder)
        lines = DirectLines(recorder, batch_size=50)
        for i, events in enumerate(batches):
            await lines.put(events)
            between(i, recorder)
            await asyncio.sleep(0)
        stats = await lines.finish()
        for _ in range(600):  # the spool, if used, replays every 0.05 s
            await recorder.flush()
            if not recorder.spool_pending:
                break
            await asyncio.sleep(0.05)
        await recorder.stop()
        return recorder, stats, journaled.lines

    return asyncio.run(run())


def test_lines_reach_rows_without_the_journal(
    migrated_url: str, engine: Engine, tmp_path: Path
) -> None:
    events = _events(230)
    runs = [events[:70], events[70:140], events[140:], events[:30]]  # a re-read run too
    recorder, stats, journaled = _run(engine, tmp_path / "spool", WriterProcess(migrated_url), runs)
    assert stats == DirectStats(direct=260, handed_over=0)
    assert counts(engine)[:3] == (230, 230, 230)
    assert (recorder.stats.written, recorder.stats.duplicates) == (230, 30)
    assert recorder.stats.submitted == 260
    assert journaled == 0


def test_refused_data_goes_the_ordinary_way_and_costs_only_itself(
    migrated_url: str, engine: Engine, tmp_path: Path
) -> None:
    events = _events(200)
    poison = make_event(project_id=424242)  # no such project
    runs = [events[:60], [*events[60:100], poison], events[100:]]
    recorder, stats, journaled = _run(engine, tmp_path / "spool", WriterProcess(migrated_url), runs)
    assert counts(engine)[:3] == (200, 200, 200)
    assert recorder.stats.quarantined == 1
    assert stats.direct >= 100  # the two batches before the refused one, maybe some after it
    assert stats.direct + stats.handed_over == 201 and journaled == stats.handed_over >= 50
    assert len(stats.errors) == 1 and "rejected" in stats.errors[0]


def test_a_child_killed_mid_source_loses_nothing(
    migrated_url: str, engine: Engine, tmp_path: Path
) -> None:
    writer = WriterProcess(migrated_url, respawn_after_s=0.05)
    runs = [_events(100, 100 * i) for i in range(30)]

    def kill(i: int, recorder: Recorder) -> None:
        if i in (5, 6, 7) and writer.pid is not None:
            os.kill(writer.pid, signal.SIGKILL)

    _, stats, journaled = _run(engine, tmp_path / "spool", writer, runs, kill)
    assert counts(engine)[:3] == (3000, 3000, 3000)
    assert stats.direct + stats.handed_over == 3000
    assert stats.handed_over > 0 and stats.errors  # a kill met a batch in flight
    assert journaled == stats.handed_over
    assert writer.spawned > 1


def test_an_outage_mid_source_is_spooled_and_replayed(
    outage_engine: tuple[Engine, Outage], tmp_path: Path
) -> None:
    engine, outage = outage_engine
    url = engine.url.render_as_string(hide_password=False)
    writer = WriterProcess(url, busy_timeout_ms=50, respawn_after_s=0.05)
    runs = [_events(100, 100 * i) for i in range(8)]

    def cut(i: int, recorder: Recorder) -> None:
        if i == 3:
            outage.cut()

    async def run() -> tuple[Recorder, DirectStats]:
        recorder = Recorder(engine, tmp_path / "spool", FAST, writer)
        await recorder.start()
        lines = DirectLines(recorder, batch_size=50)
        for i, events in enumerate(runs):
            await lines.put(events)
            cut(i, recorder)
        stats = await lines.finish()
        await recorder.flush()
        assert recorder.spool_pending  # nothing could be written: the spool holds it
        outage.start()
        for _ in range(600):
            if not recorder.spool_pending:
                break
            await asyncio.sleep(0.05)
        await recorder.stop()
        return recorder, stats

    recorder, stats = asyncio.run(run())
    assert counts(engine)[:3] == (800, 800, 800)
    assert stats.handed_over > 0 and recorder.stats.spooled > 0


def test_without_a_writer_process_lines_go_the_ordinary_way(
    migrated_url: str, tmp_path: Path
) -> None:
    engine = make_engine(migrated_url)
    try:
        _, stats, journaled = _run(engine, tmp_path / "spool", None, [_events(120)])
        assert stats == DirectStats(direct=0, handed_over=120) and journaled == 120
        assert counts(engine)[:3] == (120, 120, 120)
    finally:
        engine.dispose()


def test_the_recorders_own_batches_go_between(
    migrated_url: str, engine: Engine, tmp_path: Path
) -> None:
    """Requests recorded while a long source streams are written too (the sender lets go of
    the pipe when the recorder's writer wants it)."""
    runs = [_events(100, 100 * i) for i in range(40)]
    relayed = [make_event(started_at=T0 + timedelta(days=1, milliseconds=i)) for i in range(40)]

    def also(i: int, recorder: Recorder) -> None:
        recorder.submit(relayed[i])

    recorder, stats, _ = _run(engine, tmp_path / "spool", WriterProcess(migrated_url), runs, also)
    assert counts(engine)[:3] == (4040, 4040, 4040)
    assert stats.direct == 4000 and recorder.stats.written == 4040


def test_an_unexpected_error_in_the_pipe_still_answers_every_batch(
    migrated_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug while reading an answer (not a storage error) hands that batch over: ``finish``
    neither hangs nor loses it."""
    real, calls = Pipeline.answer, [0]

    def answer(pipe: Pipeline) -> int:
        calls[0] += 1
        if calls[0] == 2:
            raise RuntimeError("a bug")
        return real(pipe)

    monkeypatch.setattr(Pipeline, "answer", answer)
    runs = [_events(100, 100 * i) for i in range(4)]
    _, stats, journaled = _run(engine, tmp_path / "spool", WriterProcess(migrated_url), runs)
    assert counts(engine)[:3] == (400, 400, 400)
    assert stats.handed_over >= 50 and journaled == stats.handed_over
    assert any("a bug" in error for error in stats.errors)


def test_a_batch_that_cannot_be_handed_over_fails_the_source(
    migrated_url: str, engine: Engine, tmp_path: Path
) -> None:
    """Refused directly, then refused by the recorder's journal too: ``finish`` raises, so
    the caller does not mark its source recorded (it is read again)."""
    events = _events(100)
    events[10] = make_event(project_id=424242)  # the direct batch is refused

    def refuse(taken: Sequence[tuple[UsageEvent, bytes]]) -> None:
        raise OSError(37, "No locks available")

    async def run() -> None:
        recorder = Recorder(engine, tmp_path / "spool", FAST, WriterProcess(migrated_url))
        await recorder.start()
        recorder.submit_taken = refuse  # type: ignore[method-assign]
        lines = DirectLines(recorder, batch_size=50)
        try:
            await lines.put(events)
            with pytest.raises(StorageError, match="No locks available"):
                await lines.finish()
        finally:
            await recorder.stop()

    asyncio.run(run())
    assert counts(engine)[0] == 50  # the batch without the refused line
