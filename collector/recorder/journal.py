"""The journal: every event is appended to a file before its client gets the last byte.

Each gateway process appends its events (one line each, see :mod:`.codec`) to a segment of
its own under ``<spool>/journal/``, holding an exclusive ``flock`` on it while it lives. A
``write`` to a file survives the process being killed (the kernel has it), so a SIGKILL
loses nothing that was answered: the next process that looks — this one after a restart,
or any live gateway sharing the spool directory — finds the segment unlocked, writes its
events (idempotently: rows already stored are skipped) and deletes it.

A segment is deleted once every event in it was written or spooled and a newer segment
took over. A background thread fsyncs the segment being written: every ``sync_interval_s``
(what a machine crash can lose; 0 lost with ``fsync`` durability, where each response waits
for the fsync that covers its event — one fsync serves every event appended before it).

A journal that cannot be written (a full or read-only disk) never stops traffic: the event
stays in memory, the failure is counted and ``/healthz`` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from collector.recorder import codec

log = logging.getLogger(__name__)
SUFFIX = ".journal"
ROTATE_BYTES = 8 << 20
RETRY_AFTER_S = 1.0


class Segment:
    """One journal file of this process."""

    __slots__ = ("broken", "fd", "path", "pending", "retired", "size", "synced")

    def __init__(self, path: Path, fd: int, size: int) -> None:
        self.path, self.fd, self.size = path, fd, size
        self.synced = size  # bytes known to be on disk
        self.pending = 0  # events appended and not yet written or spooled
        self.retired = False  # a newer segment took over: delete once pending is 0
        self.broken = False  # a write failed: never append again


class Journal:
    """Append events; release them once stored; fsync in the background."""

    def __init__(self, directory: Path, *, fsync: bool = False, sync_interval_s: float = 0.2):
        self.directory = directory
        self.fsync = fsync
        self.sync_interval_s = sync_interval_s
        self.failures = 0  # appends that did not reach the file
        self.sync_failures = 0
        self.failing = False  # the last append failed
        self.last_sync_age_s = 0.0  # how old the oldest unsynced byte was at the last sync
        self._current: Segment | None = None
        self._segments: list[Segment] = []
        self._waiters: list[tuple[Segment, int, asyncio.Future[None]]] = []
        self._lock = threading.Lock()  # segments list and waiters, shared with the thread
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._retry_at = 0.0

    # --- the request path (event loop thread) -------------------------------------------
    def append(self, line: bytes) -> Segment | None:
        """Append one line; None when the journal cannot take it (counted)."""
        seg = self._current
        if seg is None or seg.broken:
            if self.failing and time.monotonic() < self._retry_at:
                self.failures += 1
                return None  # a full or read-only disk: try a new segment once a second
            seg = self._open_segment()
            if seg is None:
                return None
        try:
            written = os.write(seg.fd, line)
        except OSError as exc:
            self._failed(seg, exc)
            return None
        seg.size += written
        if written != len(line):
            self._failed(seg, OSError("short write (disk full?)"))
            return None
        seg.pending += 1
        self.failing = False
        if seg.size >= ROTATE_BYTES:
            self._retire(seg)
        return seg

    def durable(self, seg: Segment) -> asyncio.Future[None] | None:
        """With ``fsync`` durability: a future done once ``seg`` is on disk up to now."""
        if not self.fsync:
            return None
        future = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiters.append((seg, seg.size, future))
        self._wake.set()
        return future

    def release(self, seg: Segment, count: int) -> None:
        """``count`` of ``seg``'s events are stored or spooled (called on the loop thread)."""
        seg.pending -= count

    # --- segments -------------------------------------------------------------------------
    def _open_segment(self) -> Segment | None:
        if self._current is not None:
            self._retire(self._current)
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:04d}{SUFFIX}"
        path = self.directory / name
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            self._failed(None, exc)
            return None
        fcntl.flock(fd, fcntl.LOCK_EX)
        head = codec.header(pid=os.getpid())
        seg = Segment(path, fd, 0)
        try:
            seg.size = os.write(fd, head)
        except OSError as exc:
            seg.broken = True
            self._keep(seg)
            self._failed(seg, exc)
            return None
        self._keep(seg)
        self._current = seg
        return seg

    def _keep(self, seg: Segment) -> None:
        with self._lock:
            self._segments.append(seg)

    def _retire(self, seg: Segment) -> None:
        seg.retired = True
        if self._current is seg:
            self._current = None

    def _failed(self, seg: Segment | None, exc: OSError) -> None:
        """Count a failed append; the segment it hit is never written again."""
        self.failures += 1
        self._retry_at = time.monotonic() + RETRY_AFTER_S
        if not self.failing:
            log.error("recorder: journal append failed (%s); events stay in memory", exc)
        self.failing = True
        if seg is not None:
            seg.broken = True
            self._retire(seg)

    # --- the sync thread --------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="journal-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Sync and close; segments whose events are all stored are deleted, the rest kept."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        self._thread = None
        self._current = None
        with self._lock:
            segments, self._segments = self._segments, []
        for seg in segments:
            self._sync(seg)
            self._close(seg, delete=seg.pending <= 0)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.sync_interval_s)
            self._wake.clear()
            try:
                self._sync_round()
            except Exception:  # the thread must not die: log and go on
                log.exception("recorder: journal sync round failed")

    def _sync_round(self) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
            segments = list(self._segments)
        started = time.monotonic()
        for seg in segments:
            if seg.size > seg.synced and not seg.broken:
                self._sync(seg)
        self.last_sync_age_s = time.monotonic() - started
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for _seg, _upto, future in waiters:
            by_loop.setdefault(future.get_loop(), []).append(future)
        for loop, futures in by_loop.items():  # one wake-up of each loop for the whole group
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_resolve, futures)
        for seg in segments:
            if seg.retired and seg.pending <= 0:
                with self._lock:
                    self._segments.remove(seg)
                self._close(seg, delete=True)

    def _sync(self, seg: Segment) -> None:
        size = seg.size
        try:
            os.fdatasync(seg.fd)
        except OSError as exc:
            self.sync_failures += 1
            log.error("recorder: journal fsync failed: %s", exc)
            return
        seg.synced = size

    @staticmethod
    def _close(seg: Segment, *, delete: bool) -> None:
        if delete:
            with contextlib.suppress(OSError):
                seg.path.unlink()
        with contextlib.suppress(OSError):
            os.close(seg.fd)

    @property
    def pending(self) -> int:
        return sum(seg.pending for seg in self._segments)

    # --- recovery -----------------------------------------------------------------------------
    def orphans(self) -> Iterator[tuple[Path, bytes]]:
        """Segments no live process holds (their process died): path and content.

        Each is yielded with its lock held; the caller stores the events, then calls
        :meth:`forget` (which deletes it). Not forgetting keeps it for a later look.
        """
        try:
            paths = sorted(self.directory.glob(f"*{SUFFIX}"))
        except OSError:
            return
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.fstat(fd).st_nlink == 0:
                    continue  # adopted and deleted by another process just now
                yield path, _read_all(fd)
            except BlockingIOError:
                continue  # its process is alive (or another one is adopting it)
            finally:
                os.close(fd)


def forget(path: Path) -> None:
    """Delete an adopted segment (while its lock is still held)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)
