"""The recorder's writer in a process of its own, so the database work never holds our GIL.

In the gateway, building rows and rollups for a batch (GIL-bound Python) ran in a thread
beside the event loop, which then waited for the GIL: requests that met a flush were
slowed, and the two threads handing the GIL back and forth cost throughput. Here the gateway
only joins the batch's lines (each event was encoded once, when it was taken in: see
:mod:`collector.recorder.codec`) and hands them to a child process over a pipe; the
child runs ``write_batch`` (and SQLite's WAL checkpoints) and answers with the count
written, or why not.

Nothing is lost when the child fails: a batch counts as written only once the child says it
committed. If the child dies, hangs up or cannot start, ``write`` raises ``StorageError`` and
the recorder spools the batch (a batch the child had committed just before dying is skipped
on replay: writes are idempotent on request id). The next write starts a new child, at most
once per ``respawn_after_s``.

The child ignores SIGINT and SIGTERM: a Ctrl-C or a SIGTERM to the process group reaches the
gateway, which drains its queue through the child and then closes the pipe; the child ends
when its pipe closes (also when the gateway dies).
"""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from collector.errors import StorageError
from collector.recorder._wire import WireError, receive, send
from collector.recorder.codec import encode
from collector.recorder.events import UsageEvent
from collector.recorder.writer import PoisonBatch, connect_spec, write_plan_for_url

log = logging.getLogger(__name__)
CHILD_MODULE = "collector.recorder._child"


class WriterProcess:
    """A :class:`~collector.recorder.sink.BatchWriter` that writes from a child process."""

    def __init__(
        self,
        url: str,
        *,
        busy_timeout_ms: int = 5000,
        cache_kib: int = 2 * 1024,  # the default of SPENDSCOPE_RECORDER_SQLITE_CACHE_MIB
        respawn_after_s: float = 1.0,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.busy_timeout_ms = busy_timeout_ms
        self.cache_kib = cache_kib
        self.respawn_after_s = respawn_after_s
        self.stop_timeout_s = stop_timeout_s
        self.spawned = 0  # children started (tests, diagnostics)
        self.restarted_at: float | None = None  # monotonic time of the last restart
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # one sender on the pipe at a time
        self._waiting = 0  # batches of the recorder's own waiting for the pipe
        self._counting = threading.Lock()
        self._next_spawn = 0.0
        self._stopped = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start the child now, so a child that cannot start is logged at once."""
        with self._lock:
            self._stopped = False
            try:
                self._ensure()
            except StorageError as exc:
                log.error("recorder: %s; batches go to the spool until it starts", exc)

    def write(self, events: Sequence[UsageEvent], lines: Sequence[bytes] | None = None) -> int:
        """Send the batch's encoded lines (encoded once, as each event was taken in)."""
        if lines is None:
            lines = [encode(e) for e in events]
        return self._send(b"".join(lines), len(lines))

    @property
    def wanted(self) -> bool:
        """Whether a batch of the recorder's own waits for the pipe (a pipeline lets go)."""
        return self._waiting > 0

    def _send(self, payload: bytes, count: int) -> int:
        with self._counting:
            self._waiting += 1
        with self._lock:
            with self._counting:
                self._waiting -= 1
            proc = self._ensure()
            assert proc.stdin is not None and proc.stdout is not None  # noqa: S101 - Popen(PIPE) narrowing
            try:
                send(proc.stdin.fileno(), payload)
                answer = pickle.loads(receive(proc.stdout.fileno()))  # noqa: S301 - our child's frame
            except (OSError, WireError, pickle.UnpicklingError, ValueError) as exc:
                self._lost(f"writer process {proc.pid} went away mid-batch ({exc})")
                raise StorageError(f"batch of {count} not confirmed: {exc}") from exc
        return _result(answer)

    @contextmanager
    def pipeline(self) -> Iterator[Pipeline]:
        """The pipe held for a run of batches sent ahead of their answers (no other batch
        goes down it meanwhile: hold it briefly, and let go when :attr:`wanted` is set)."""
        with self._lock:
            pipeline = Pipeline(self, self._ensure())
            try:
                yield pipeline
            finally:
                pipeline.close()

    def stop(self) -> None:
        """Close the pipe and wait for the child to finish its last checkpoint."""
        with self._lock:
            self._stopped = True
            proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            log.error("recorder: writer process %d did not exit; killing it", proc.pid)
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    # --- the child ---------------------------------------------------------------------
    def _ensure(self) -> subprocess.Popen[bytes]:
        """The running child; starts one (called with the lock held)."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        if self._proc is not None:
            self._lost(f"writer process {self._proc.pid} exited ({self._proc.returncode})")
        if self._stopped:
            raise StorageError("the recorder's writer process was stopped")
        now = time.monotonic()
        if now < self._next_spawn:
            raise StorageError("the recorder's writer process is restarting")
        self._next_spawn = now + self.respawn_after_s
        try:
            hello = self._hello()
        except Exception as exc:  # a URL the writer cannot open (an unsupported driver, say)
            raise StorageError(f"the recorder's writer process cannot start: {exc}") from exc
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", CHILD_MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            close_fds=True,
        )
        assert proc.stdin is not None and proc.stdout is not None  # noqa: S101 - Popen(PIPE) narrowing
        try:
            send(proc.stdin.fileno(), hello)
            kind, value = pickle.loads(receive(proc.stdout.fileno()))  # noqa: S301 - our child's frame
        except (OSError, WireError, pickle.UnpicklingError, ValueError) as exc:
            self._reap(proc)
            raise StorageError(f"the recorder's writer process did not start: {exc}") from exc
        if kind != "ready":
            self._reap(proc)
            raise StorageError(f"the recorder's writer process did not start: {value}")
        self._proc = proc
        self.spawned += 1
        if self.spawned > 1:
            self.restarted_at = time.monotonic()
        log.info("recorder: writer process %d started", proc.pid)
        return proc

    def _hello(self) -> bytes:
        """The first frame: how to connect and what to write (both plain data)."""
        timeout, cache = self.busy_timeout_ms, self.cache_kib
        spec = connect_spec(self.url, busy_timeout_ms=timeout, cache_kib=cache)
        plan = write_plan_for_url(self.url)
        return pickle.dumps({"spec": spec, "plan": plan})

    def _lost(self, why: str) -> None:
        log.error("recorder: %s; spooling, a new one starts with the next batch", why)
        if self._proc is not None:
            self._reap(self._proc)
            self._proc = None

    @staticmethod
    def _reap(proc: subprocess.Popen[bytes]) -> None:
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _result(answer: Any) -> int:
    """The count of new requests the child answered, or the error it answered instead."""
    kind, value = answer if isinstance(answer, tuple) and len(answer) == 2 else ("", answer)
    if kind == "ok" and isinstance(value, int):
        return value
    if kind == "poison":
        raise PoisonBatch(str(value))
    raise StorageError(str(value))


class Pipeline:
    """Batches sent to the writer process ahead of their answers, so the next batch already
    waits in the pipe while the child writes the last (it never idles between two batches).

    Answers come in the order the batches went. Once the child is lost, every batch still
    unanswered gets ``StorageError``: it may or may not have been committed (the caller
    writes it again another way: writes are idempotent on request id).
    """

    def __init__(self, owner: WriterProcess, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None  # noqa: S101 - Popen(PIPE) narrowing
        self._owner, self._proc = owner, proc
        self._out, self._in = proc.stdin.fileno(), proc.stdout.fileno()
        self.unanswered = 0
        self._broken: str | None = None

    def send(self, lines: Sequence[bytes]) -> None:
        """Send one batch's encoded lines (blocks while the child still reads the last)."""
        if self._broken is None:
            try:
                send(self._out, b"".join(lines))
            except OSError as exc:
                self._lose(exc)
        self.unanswered += 1

    def answer(self) -> int:
        """The oldest unanswered batch's count of new requests (or its error)."""
        if self.unanswered < 1:
            raise ValueError("no batch awaits an answer")
        self.unanswered -= 1
        if self._broken is None:
            try:
                answer = pickle.loads(receive(self._in))  # noqa: S301 - our child's frame
            except (OSError, WireError, pickle.UnpicklingError, ValueError) as exc:
                self._lose(exc)
            else:
                return _result(answer)
        raise StorageError(f"batch not confirmed: {self._broken}")

    def close(self) -> None:
        """Read the answers nobody asked for, so the next sender finds the pipe in step."""
        while self.unanswered:
            with suppress(PoisonBatch, StorageError):
                self.answer()

    def _lose(self, exc: Exception) -> None:
        self._broken = str(exc) or exc.__class__.__name__
        self._owner._lost(f"writer process {self._proc.pid} went away mid-batch ({exc})")
