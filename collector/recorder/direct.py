"""Rows of a source that can be read again, written straight by the writer process.

A Batch API job's output file can be read again until the job is marked recorded, so its
lines need neither the journal nor the recorder's queue: :class:`DirectLines` sends them in
batches to the writer process on a thread of its own, the next batch already in the pipe
while the child writes the last (``Pipeline``), so the child never waits for the gateway and
the gateway prices the next lines meanwhile. The caller marks its source recorded only after
:meth:`DirectLines.finish`.

Nothing is lost on this path: a batch the child does not confirm (the database away, the
child lost, data refused) is handed to the recorder the ordinary way (journal, queue, spool,
poison isolation), as is everything after it; a process killed meanwhile leaves its source
unmarked, and it is read again (rows are idempotent on request id). Without a writer process,
or while the spool holds anything, every batch takes the ordinary way.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from collector.errors import StorageError
from collector.recorder.events import UsageEvent
from collector.recorder.process import Pipeline, WriterProcess
from collector.recorder.service import Recorder

log = logging.getLogger(__name__)
HOLD_S = 0.05  # longest the sender keeps the pipe waiting for the next batch (the child writes)
IN_HAND = 3  # batches between the caller and a confirmed write: two in the pipe, one queued


@dataclass(slots=True)
class _Frame:
    taken: Sequence[tuple[UsageEvent, bytes]]
    written: int | None = None  # new requests, once confirmed
    error: Exception | None = None


@dataclass(slots=True)
class DirectStats:
    """What one source's lines became."""

    direct: int = 0  # events confirmed written by the writer process
    handed_over: int = 0  # events given to the recorder instead (journal, queue, spool)
    errors: list[str] = field(default_factory=list)


class DirectLines:
    """One source's events on their way to rows; ``put`` them, then ``finish``."""

    def __init__(
        self,
        recorder: Recorder,
        batch_size: int | None = None,
        observe: Callable[[UsageEvent], object] | None = None,
    ) -> None:
        self.recorder, self.observe = recorder, observe
        self.batch_size = batch_size or recorder.config.batch_size
        self.stats = DirectStats()
        writer = recorder.writer
        self._writer = writer if isinstance(writer, WriterProcess) else None
        self._ordinary = self._writer is None or recorder.spool_pending
        self._held: list[tuple[UsageEvent, bytes]] = []
        self._frames: queue.SimpleQueue[_Frame | None] = queue.SimpleQueue()
        self._slots = asyncio.Semaphore(IN_HAND)
        self._unconfirmed = 0
        self._settled = asyncio.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ended = False  # the sender took the end of the source from the queue
        self._lost: Exception | None = None  # a batch neither written nor handed over
        self._durable: list[asyncio.Future[None]] = []  # fsync durability: journal syncs

    async def put(self, events: Sequence[UsageEvent]) -> None:
        """Take events in (as the recorder does, counted; each shown to ``observe``); sends a
        batch once one is full."""
        self._held.extend(self.recorder.take_in_many(events))
        if self.observe is not None:
            for event in events:
                self.observe(event)
        while len(self._held) >= self.batch_size:
            taken, self._held = self._held[: self.batch_size], self._held[self.batch_size :]
            await self._send(taken)

    async def finish(self) -> DirectStats:
        """Send what is held and wait until every batch is written or handed over (and, with
        ``fsync`` durability, the handed-over ones are on disk). Raises ``StorageError`` if a
        batch could be neither: its source must not be marked recorded."""
        if self._held:
            taken, self._held = self._held, []
            await self._send(taken)
        if self._thread is not None:
            self._frames.put(None)
            while self._unconfirmed:
                self._settled.clear()
                await self._settled.wait()
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        if self._lost is not None:
            raise StorageError(f"lines neither written nor handed over: {self._lost}")
        if self._durable:
            await asyncio.gather(*self._durable)
        return self.stats

    # --- the event loop's side -------------------------------------------------------
    async def _send(self, taken: Sequence[tuple[UsageEvent, bytes]]) -> None:
        if self._ordinary:
            self._hand_over(taken)
            return
        await self._slots.acquire()
        if self._ordinary:  # a batch failed while this one waited for its slot
            self._slots.release()
            self._hand_over(taken)
            return
        self._unconfirmed += 1
        self._frames.put(_Frame(taken))
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._run, name="direct-lines", daemon=True)
            self._thread.start()

    def _landed(self, frame: _Frame) -> None:
        """A batch's answer (on the loop): counted, or handed to the recorder; settled only
        then (a hand-over that fails makes :meth:`finish` raise)."""
        try:
            self._count_or_hand_over(frame)
        except Exception as exc:
            log.exception("recorder: %d lines could not be handed over", len(frame.taken))
            self._lost = self._lost or exc
        finally:
            self._unconfirmed -= 1
            self._slots.release()
            self._settled.set()

    def _count_or_hand_over(self, frame: _Frame) -> None:
        if frame.written is not None:
            stats = self.recorder.stats
            stats.written += frame.written
            stats.duplicates += len(frame.taken) - frame.written
            stats.direct += len(frame.taken)
            self.stats.direct += len(frame.taken)
            return
        if not self._ordinary:
            log.warning("recorder: writing lines directly failed (%s); the recorder takes"
                        " them and the rest of this file", frame.error)  # fmt: skip
        self._ordinary = True
        self.stats.errors.append(str(frame.error)[:300])
        self._hand_over(frame.taken)

    def _hand_over(self, taken: Sequence[tuple[UsageEvent, bytes]]) -> None:
        durable = self.recorder.submit_taken(taken)
        if durable is not None:
            self._durable.append(durable)
        self.stats.handed_over += len(taken)

    # --- the sending thread ----------------------------------------------------------
    def _run(self) -> None:
        """Send batches two deep while they come; let go of the pipe while none comes within
        ``HOLD_S`` or the recorder's own writer waits for it. Every batch taken from the
        queue is answered, whatever happens."""
        assert self._writer is not None  # noqa: S101 - only started with a writer process
        while not self._ended and (frame := self._frames.get()) is not None:
            sent = [frame]
            try:
                with self._writer.pipeline() as pipe:
                    self._stream(pipe, sent, self._writer)
            except Exception as exc:  # no child to write to (restarting, cannot start); a bug
                for unanswered in sent:
                    self._answer(unanswered, None, exc)

    def _stream(self, pipe: Pipeline, sent: list[_Frame], writer: WriterProcess) -> None:
        """Send ``sent``'s batch and those that follow within ``HOLD_S``; each leaves ``sent``
        once answered."""
        pipe.send(_lines(sent[0]))
        while sent:
            following: _Frame | None = None
            if not self._ended and not writer.wanted:
                try:
                    following = self._frames.get(timeout=HOLD_S)
                except queue.Empty:
                    pass
                else:
                    self._ended = following is None
            if following is not None:
                sent.append(following)
                pipe.send(_lines(following))  # returns once the child has read it
            self._confirm(pipe, sent[0])
            sent.pop(0)
            if following is None:
                while sent:
                    self._confirm(pipe, sent[0])
                    sent.pop(0)

    def _confirm(self, pipe: Pipeline, frame: _Frame) -> None:
        try:
            written = pipe.answer()
        except Exception as exc:  # PoisonBatch, StorageError; anything else too
            self._answer(frame, None, exc)
        else:
            self._answer(frame, written, None)

    def _answer(self, frame: _Frame, written: int | None, error: Exception | None) -> None:
        frame.written, frame.error = written, error
        assert self._loop is not None  # noqa: S101 - set before the thread starts
        try:
            self._loop.call_soon_threadsafe(self._landed, frame)
        except RuntimeError:  # the loop closed (shutdown): the source was not marked recorded
            log.info(
                "recorder: a direct batch's answer came after shutdown; its source is read again"
            )


def _lines(frame: _Frame) -> list[bytes]:
    return [line for _, line in frame.taken]
