"""The background recorder: the request path hands it events and never waits on the database.

Events queue in memory and are written in batches by one task. A batch the database cannot
take goes to the durable spool; while the spool holds anything, new batches follow it there,
so replay keeps the order. A batch the database rejects as data (poison) is split, and only
the events that still fail are quarantined. Nothing is dropped: a full queue spills to the
spool, and shutdown drains for a bounded time, then spools the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from collector.errors import StorageError
from collector.recorder.events import UsageEvent
from collector.recorder.sink import BatchWriter, InProcessWriter, PackingWriter
from collector.recorder.spool import Spool
from collector.recorder.writer import PoisonBatch

log = logging.getLogger(__name__)
# While a batch is built and written in a worker thread, the event loop waits at most this
# long for the GIL whenever it wakes up (CPython's default, 5 ms, per wake-up: a request that
# met a flush waited that long several times over, which set the gateway's p99 latency).
WRITE_SWITCH_INTERVAL_S = 0.0001


@dataclass(slots=True)
class RecorderStats:
    """Counters an operator reads to see that nothing was lost."""

    submitted: int = 0
    written: int = 0
    duplicates: int = 0
    spooled: int = 0
    overflowed: int = 0
    replayed_batches: int = 0
    quarantined: int = 0
    write_failures: int = 0


@dataclass(frozen=True, slots=True)
class RecorderConfig:
    queue_size: int = 50_000
    batch_size: int = 1000
    flush_interval_s: float = 0.2
    shutdown_timeout_s: float = 10.0
    replay_interval_s: float = 5.0


class Recorder:
    """Owns the queue, the writer task and the spool of one process.

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
        # a packing writer's queue holds packed events (packed as they arrive), else events
        self._packing = self.writer if isinstance(self.writer, PackingWriter) else None
        self._queue: deque[Any] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()  # cleared by submit, set again once the writer has nothing in hand
        self._stopping = False
        self._first_at = 0.0  # when the queue last went from empty to non-empty (monotonic)
        self._spool_pending = bool(self.spool.pending())
        self._tasks: list[asyncio.Task[None]] = []

    # --- the request path ------------------------------------------------------------
    def submit(self, event: UsageEvent) -> None:
        """Queue an event; never blocks on I/O unless the queue is full (then spools it)."""
        self.stats.submitted += 1
        if len(self._queue) >= self.config.queue_size:
            self.stats.overflowed += 1
            self._spill([event], reason="queue full")
            return
        if self._packing is None:
            self._queue.append(event)
        else:
            try:
                self._queue.append(self._packing.pack(event))
            except Exception:  # never lose it: the spool takes the event as it is
                log.exception("recorder: could not pack request %s", event.id)
                self._spill([event], reason="could not pack")
                return
        self._idle.clear()
        if len(self._queue) == 1:
            self._first_at = time.monotonic()
            self._wake.set()
        elif len(self._queue) >= self.config.batch_size:
            self._wake.set()

    # --- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Replay what an earlier run spooled, then start writing."""
        await asyncio.to_thread(self.writer.start)
        await self._replay_once()
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="recorder-writer"),
            asyncio.create_task(self._replay_loop(), name="recorder-replay"),
        ]

    async def stop(self) -> None:
        """Drain within the shutdown timeout; spool whatever is left."""
        self._stopping = True
        self._wake.set()
        writer = self._tasks[0] if self._tasks else None
        if writer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(writer), self.config.shutdown_timeout_s)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._queue:
            rest = self._events(list(self._queue))
            self._queue.clear()
            self._spill(rest, reason="shutdown timeout")
        await asyncio.to_thread(self.writer.stop)
        self._idle.set()

    async def flush(self, wait_s: float = 30.0) -> None:
        """Wait until everything submitted so far was written or spooled (tests, demo).

        Also waits for a batch already taken from the queue and still being written.
        """
        self._wake.set()
        await asyncio.wait_for(self._idle.wait(), wait_s)

    @property
    def backlog(self) -> int:
        return len(self._queue)

    @property
    def degraded(self) -> bool:
        """True while batches are going to the spool instead of the database."""
        return self._spool_pending

    # --- the writer ------------------------------------------------------------------
    async def _write_loop(self) -> None:
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
            await self._gather()
            batch = self._take()
            if batch:
                await self._persist(batch)

    async def _gather(self) -> None:
        """Let a batch gather until its oldest event has waited the flush interval.

        Also after a write: under load, taking at once whatever arrived during the last
        write made batches of a few dozen events, each paying a whole transaction.
        """
        if self._stopping or len(self._queue) >= self.config.batch_size:
            return
        wait = self._first_at + self.config.flush_interval_s - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    def _take(self) -> list[Any]:
        n = min(len(self._queue), self.config.batch_size)
        return [self._queue.popleft() for _ in range(n)]

    async def _persist(self, batch: list[Any]) -> None:
        """Write (or spool) a taken batch in a worker thread that a cancel cannot stop.

        Cancelling a plain ``to_thread`` before its thread started dropped the work item,
        and with it the batch (seen on shutdown); the shielded executor future still runs,
        and the loop's shutdown waits for it.
        """
        loop = asyncio.get_running_loop()
        await asyncio.shield(loop.run_in_executor(None, self._persist_now, batch))

    def _persist_now(self, batch: list[Any]) -> None:
        if self._spool_pending:
            self._spill(self._events(batch), "spool not yet replayed")
            return
        try:
            self._write(batch, queued=True)
        except StorageError as exc:
            self.stats.write_failures += 1
            log.warning("recorder: database write failed, spooling %d events: %s", len(batch), exc)
            self._spill(self._events(batch), "database unavailable")
        except Exception:  # a bug must not drop the batch (nor end the loop): spool it
            self.stats.write_failures += 1
            log.exception("recorder: batch of %d failed unexpectedly; spooling it", len(batch))
            self._spill(self._events(batch), "unexpected write failure")

    def _events(self, items: Sequence[Any]) -> list[UsageEvent]:
        """Queued items as events (a packing writer's queue holds packed ones)."""
        return self._packing.unpack(items) if self._packing is not None else list(items)

    def _write(self, batch: Sequence[Any], queued: bool = False) -> None:
        """Write a batch (queued items, or events from the spool) with quick thread switches."""
        with _SWITCH:
            self._write_split(batch, queued and self._packing is not None)

    def _write_split(self, batch: Sequence[Any], packed: bool) -> None:
        """Write a batch; a poison batch is bisected so only bad events are quarantined."""
        try:
            if packed and self._packing is not None:
                new = self._packing.write_packed(batch)
            else:
                new = self.writer.write(batch)
        except PoisonBatch as exc:
            if len(batch) == 1:
                events = self._events(batch) if packed else list(batch)
                self.spool.quarantine_events(events, reason=str(exc))
                self.stats.quarantined += 1
                return
            mid = len(batch) // 2
            self._write_split(batch[:mid], packed)
            self._write_split(batch[mid:], packed)
            return
        self.stats.written += new
        self.stats.duplicates += len(batch) - new

    def _spill(self, events: Sequence[UsageEvent], reason: str) -> None:
        self.spool.append(events)
        self._spool_pending = True
        self.stats.spooled += len(events)
        log.warning("recorder: spooled %d events (%s)", len(events), reason)

    # --- replay ----------------------------------------------------------------------
    async def _replay_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.replay_interval_s)
            if self._spool_pending:
                await self._replay_once()

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


class _SwitchInterval:
    """Lowers the interpreter's thread switch interval while any writer thread is inside.

    The interval is process-wide: nested and concurrent writes share one saved value, and
    the last one out restores it. Only contended hand-overs get more frequent; a thread
    running alone is never interrupted by it.
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()
        self._inside = 0
        self._saved = 0.0

    def __enter__(self) -> None:
        with self._lock:
            if self._inside == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._seconds, self._saved))
            self._inside += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._inside -= 1
            if self._inside == 0:
                sys.setswitchinterval(self._saved)


_SWITCH = _SwitchInterval(WRITE_SWITCH_INTERVAL_S)
