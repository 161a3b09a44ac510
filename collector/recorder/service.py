"""The background recorder: the request path hands it events and never waits on the database.

An event is taken in once (:meth:`Recorder.submit`): made storable, encoded to its line,
appended to this process's journal (so a killed process loses nothing answered), and queued.
One task writes the queue in batches. A batch the database cannot take goes to the durable
spool; while the spool holds anything, new batches follow it there, so replay keeps the
order. A batch the database rejects as data (poison) is split, and only the events that
still fail are quarantined. A batch neither the database nor the spool can take (an outage
on a full disk) stays in memory and is retried; past the queue bound new events are counted
as dropped — never silently. Nothing in a batch can end the write loop, and a supervisor
restarts it should it end all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine

from collector.errors import StorageError
from collector.recorder._health import RecorderStats, health_reasons
from collector.recorder._poison import write_isolating_poison
from collector.recorder._recovery import adopt_orphans
from collector.recorder.events import UsageEvent
from collector.recorder.intake import take_in
from collector.recorder.journal import Journal, Segment
from collector.recorder.sink import BatchWriter, InProcessWriter
from collector.recorder.spool import Spool

log = logging.getLogger(__name__)
Durability = Literal["process", "fsync"]
__all__ = ["Recorder", "RecorderConfig", "RecorderStats"]


@dataclass(frozen=True, slots=True)
class RecorderConfig:
    queue_size: int = 50_000
    batch_size: int = 1000
    flush_interval_s: float = 0.2
    shutdown_timeout_s: float = 10.0
    replay_interval_s: float = 5.0
    journal: bool = True  # off only where no other process could recover it (in-memory)
    durability: Durability = "process"
    lag_bound_s: float = 30.0  # an event older than this, unwritten, makes /healthz degraded
    min_free_bytes: int = 64 << 20  # free space under the spool below this: degraded
    restart_window_s: float = 300.0  # a writer restart is reported this long
    hold_pause_s: float = 1.0  # pause after a batch nothing could take


class _Item:
    """One taken-in event on its way to a row."""

    __slots__ = ("at", "event", "line", "segment")

    def __init__(self, event: UsageEvent, line: bytes, segment: Segment | None) -> None:
        self.event, self.line, self.segment = event, line, segment
        self.at = time.monotonic()


class Recorder:
    """Owns the queue, the writer task, the journal and the spool of one process.

    Batches go to ``writer`` (by default written in this process, on ``engine``).
    """

    def __init__(
        self,
        engine: Engine,
        spool_dir: Path,
        config: RecorderConfig,
        writer: BatchWriter | None = None,
    ) -> None:
        self.engine = engine
        self.writer: BatchWriter = writer if writer is not None else InProcessWriter(engine)
        self.spool = Spool(spool_dir)
        self.config = config
        self.stats = RecorderStats()
        fsync = config.durability == "fsync"
        interval = config.flush_interval_s
        self.journal = (
            Journal(spool_dir / "journal", fsync=fsync, sync_interval_s=interval)
            if config.journal
            else None
        )
        self._queue: deque[_Item] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()  # cleared by submit, set again once the writer has nothing in hand
        self._hurry = asyncio.Event()  # stop or flush: write what is queued without gathering
        self._stopping = False
        self._first_at = 0.0  # when the queue last went from empty to non-empty (monotonic)
        self._writing_since: float | None = None  # oldest event of the batch being written
        self._spool_pending = bool(self.spool.pending())
        self.spool_failing = False  # the last spool write failed (full or read-only disk)
        self._writer_task: asyncio.Task[None] | None = None
        self._replay_task: asyncio.Task[None] | None = None

    # --- the request path ------------------------------------------------------------
    def submit(self, event: UsageEvent) -> asyncio.Future[None] | None:
        """Take an event in; never blocks on I/O unless the queue is full (then spools it).

        Returns, with ``fsync`` durability, a future done once the event is on disk (the
        gateway sends the response's last byte after it); else None.
        """
        line = self._take_in(event)
        if line is None:
            return None
        segment = self.journal.append(line) if self.journal is not None else None
        self._enqueue(_Item(event, line, segment))
        if segment is None or self.journal is None:
            return None
        return self.journal.durable(segment)

    def submit_many(self, events: Sequence[UsageEvent]) -> asyncio.Future[None] | None:
        """Take events in with one journal write, not one each (a Batch API file's lines, an
        ingest call's events); returns what :meth:`submit` does, for them all."""
        return self.submit_taken(self.take_in_many(events))

    def take_in_many(self, events: Sequence[UsageEvent]) -> list[tuple[UsageEvent, bytes]]:
        """Each event with its line, as :meth:`submit` takes it in (counted; dropped ones left
        out), for :meth:`submit_taken` or a writer fed directly (``direct``)."""
        return [(event, line) for event in events if (line := self._take_in(event)) is not None]

    def submit_taken(
        self, taken: Sequence[tuple[UsageEvent, bytes]]
    ) -> asyncio.Future[None] | None:
        """Journal and queue events already taken in (:meth:`take_in_many`)."""
        lines = [line for _, line in taken]
        segment = self.journal.append_many(lines) if self.journal is not None and lines else None
        for event, line in taken:
            self._enqueue(_Item(event, line, segment))
        return None if segment is None or self.journal is None else self.journal.durable(segment)

    def _take_in(self, event: UsageEvent) -> bytes | None:
        """The event made storable and encoded (None: dropped, counted)."""
        self.stats.submitted += 1
        line, repaired = take_in(event)
        self.stats.sanitised += repaired
        if line is None:
            self.stats.dropped += 1
        return line

    def _enqueue(self, item: _Item) -> None:
        if len(self._queue) >= self.config.queue_size:
            self.stats.overflowed += 1
            if self._try_spill([item], "queue full"):
                self._release([item])
            else:
                self._drop([item], "the queue is full and the spool cannot be written")
        else:
            self._queue.append(item)
            self._idle.clear()
            if len(self._queue) == 1:
                self._first_at = item.at
                self._wake.set()
            elif len(self._queue) >= self.config.batch_size:
                self._wake.set()

    # --- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Recover what dead processes journaled and what was spooled, then start writing."""
        await asyncio.to_thread(self.writer.start)
        if self.journal is not None:
            self.journal.start()
        await self._recover()
        self._spawn_writer()
        self._replay_task = asyncio.create_task(self._replay_loop(), name="recorder-replay")

    def _spawn_writer(self) -> None:
        task = asyncio.create_task(self._write_loop(), name="recorder-writer")
        task.add_done_callback(self._writer_ended)
        self._writer_task = task

    def _writer_ended(self, task: asyncio.Task[None]) -> None:
        """The supervisor: a write loop that ended while not stopping is started again."""
        if self._stopping or task.cancelled():
            return
        self.stats.loop_restarts += 1
        log.error("recorder: the write loop ended (%r); starting it again", task.exception())
        self._spawn_writer()

    async def stop(self) -> None:
        """Drain within the shutdown timeout; spool whatever is left (else the journal has it)."""
        self._stopping = True
        self._hurry.set()
        self._wake.set()
        writer = self._writer_task
        if writer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(writer), self.config.shutdown_timeout_s)
        for task in (writer, self._replay_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._queue:
            rest = list(self._queue)
            self._queue.clear()
            if self._try_spill(rest, "shutdown timeout"):
                self._release(rest)
            else:
                log.error("recorder: %d events left in the journal for the next start", len(rest))
        await asyncio.to_thread(self.writer.stop)
        if self.journal is not None:
            await asyncio.to_thread(self.journal.stop)
        self._idle.set()

    async def flush(self, wait_s: float = 30.0) -> None:
        """Wait until everything submitted so far was written or spooled (tests, demo).

        Also waits for a batch already taken from the queue and still being written.
        """
        self._hurry.set()
        self._wake.set()
        await asyncio.wait_for(self._idle.wait(), wait_s)

    @property
    def backlog(self) -> int:
        return len(self._queue)

    @property
    def oldest_unwritten_age_s(self) -> float:
        """How long the oldest event neither written nor spooled has waited."""
        oldest = [t for t in (self._writing_since,) if t is not None]
        if self._queue:
            oldest.append(self._queue[0].at)
        return time.monotonic() - min(oldest) if oldest else 0.0

    @property
    def spool_pending(self) -> bool:
        """True while batches wait in the spool for the database."""
        return self._spool_pending

    def health(self) -> list[str]:
        """Why the record is not whole right now (empty: recording works)."""
        return list(health_reasons(self).values())

    def health_codes(self) -> dict[str, str]:
        """The same, by code (``lag``, ``spool``, ``quarantine``, ``dropped``, …): for alerts."""
        return health_reasons(self)

    @property
    def degraded(self) -> bool:
        return bool(self.health())

    # --- the writer ------------------------------------------------------------------
    async def _write_loop(self) -> None:
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._idle.set()
                self._hurry.clear()
                self._wake.clear()
                await self._wake.wait()
            try:
                await self._gather()
                batch = self._take()
                if batch:
                    await self._persist(batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # whatever a batch does, the loop goes on
                self.stats.loop_errors += 1
                log.exception("recorder: write loop error; going on")
                await asyncio.sleep(self.config.hold_pause_s)

    async def _gather(self) -> None:
        """Let a batch gather until its oldest event has waited the flush interval.

        Also after a write: under load, taking at once whatever arrived during the last
        write made batches of a few dozen events, each paying a whole transaction.
        """
        if self._stopping or len(self._queue) >= self.config.batch_size:
            return
        wait = self._first_at + self.config.flush_interval_s - time.monotonic()
        if wait > 0 and not self._hurry.is_set():  # a stop or flush meanwhile ends the wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), wait)

    def _take(self) -> list[_Item]:
        n = min(len(self._queue), self.config.batch_size)
        batch = [self._queue.popleft() for _ in range(n)]
        if self._queue:
            self._first_at = self._queue[0].at
        return batch

    async def _persist(self, batch: list[_Item]) -> None:
        """Write (or spool) a taken batch in a worker thread that a cancel cannot stop.

        Cancelling a plain ``to_thread`` before its thread started dropped the work item,
        and with it the batch (seen on shutdown); the shielded executor future still runs,
        and the loop's shutdown waits for it. A batch nothing could take goes back to the
        head of the queue, and the loop pauses before trying again.
        """
        loop = asyncio.get_running_loop()
        self._writing_since = batch[0].at
        try:
            kept = await asyncio.shield(loop.run_in_executor(None, self._persist_now, batch))
        finally:
            self._writing_since = None
        if kept:
            self._release(batch)
            return
        self._queue.extendleft(reversed(batch))
        self._first_at = batch[0].at
        await asyncio.sleep(self.config.hold_pause_s)

    def _persist_now(self, batch: list[_Item]) -> bool:
        """Written, spooled (True), or neither (False: the caller keeps the batch)."""
        if self._spool_pending and self._try_spill(batch, "spool not yet replayed"):
            return True
        events, lines = [i.event for i in batch], [i.line for i in batch]
        try:
            self._write(events, lines)
            self.spool_failing = False  # nothing waits on it now (the free space is checked)
            return True
        except StorageError as exc:
            self.stats.write_failures += 1
            log.warning("recorder: database write failed, spooling %d events: %s", len(batch), exc)
        except Exception:  # a bug must not drop the batch (nor end the loop): spool it
            self.stats.write_failures += 1
            log.exception("recorder: batch of %d failed unexpectedly; spooling it", len(batch))
        return self._try_spill(batch, "database unavailable")

    def _write(self, events: Sequence[UsageEvent], lines: Sequence[bytes]) -> None:
        write_isolating_poison(self.writer, self.spool, self.stats, events, lines)

    def _try_spill(self, items: Sequence[_Item], reason: str) -> bool:
        try:
            self.spool.append([i.line for i in items], reason=reason)
        except OSError as exc:
            first = not self.spool_failing
            self.spool_failing = True  # before the count: who sees the failure counted sees it
            self.stats.spool_failures += 1  # in health too (this runs on a writer thread)
            if first:
                log.error("recorder: the spool cannot be written (%s); events stay in memory", exc)
            return False
        self.spool_failing = False
        self._spool_pending = True
        self.stats.spooled += len(items)
        log.warning("recorder: spooled %d events (%s)", len(items), reason)
        return True

    def _release(self, items: Sequence[_Item]) -> None:
        """The items are stored or spooled: their journal segments need not keep them."""
        journal = self.journal
        if journal is None:
            return
        for item in items:
            if item.segment is not None:
                journal.release(item.segment, 1)

    def _drop(self, items: Sequence[_Item], why: str) -> None:
        self.stats.dropped += len(items)
        log.error("recorder: %d events DROPPED from memory (%s); the journal keeps them"
                  " for the next start", len(items), why)  # fmt: skip

    # --- recovery ----------------------------------------------------------------------
    async def _replay_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.replay_interval_s)
            try:
                await self._recover()
            except Exception:
                log.exception("recorder: recovery round failed; trying again later")

    async def _recover(self) -> None:
        if self.journal is not None:
            await asyncio.to_thread(self._adopt_orphans, self.journal)
        if self._spool_pending:
            await self._replay_once()

    def _adopt_orphans(self, journal: Journal) -> None:
        """Write (or spool) the journals of processes that died, then delete them."""
        recovered = adopt_orphans(journal, self._write, self.spool, self.config.batch_size)
        self.stats.adopted += recovered.events
        self._spool_pending = self._spool_pending or recovered.spooled

    async def _replay_once(self) -> bool:
        started = time.monotonic()
        try:
            replayed = await asyncio.to_thread(self.spool.replay, self._write)
        except StorageError as exc:
            log.info("recorder: spool replay deferred, database still unavailable: %s", exc)
            return False
        self.stats.replayed_batches += replayed
        self._spool_pending = bool(self.spool.pending())
        if replayed:
            took = time.monotonic() - started
            log.info("recorder: replayed %d spooled batches in %.2fs", replayed, took)
        return not self._spool_pending
