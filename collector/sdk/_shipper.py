"""Ships reported calls to the gateway's ``/api/ingest`` from a background thread.

The app's thread only appends an event to a bounded in-memory queue (full: the event is
counted in ``dropped`` and logged once, the call is never held up); it wakes nobody, as a
wake-up per call cost the app more than the rest of direct mode together (GIL hand-offs).
The shipper thread looks every ``spill_interval_s`` (50 ms), or at once when a batch is
queued, writes queued events to an on-disk buffer — segment files of NDJSON in
``buffer_dir`` — and posts each closed segment (at most ``batch_size`` events) to the
gateway, deleting it only once the gateway answered 200/207. A failure (gateway down,
5xx, 401 while a key is being issued) is retried with exponential backoff and full jitter;
a body the gateway refuses outright (400/413/415) is kept aside as ``*.rejected``.

Segments outlive the process: each process holds a lock file of its own, and a shipper
starting on the same directory adopts the segments of every lock nobody holds (an app
that was killed or restarted), so they are sent then. The gateway books an event once
whatever how often it is sent (its id is the event's), so a segment sent twice — killed
after the post, before the delete — is harmless. ``close`` (also run at exit) writes what
is queued and sends what it can within ``flush_timeout_s``; the rest waits on disk.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import fcntl
import hashlib
import logging
import os
import random
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

log = logging.getLogger(__name__)
_PERMANENT = frozenset({400, 404, 413, 415, 422})
_OPEN, _READY, _LOCK = ".open", ".ndjson", ".lock"


def default_buffer_dir(ingest_url: str, key: str) -> Path:
    """A directory per gateway and key under the user's cache (the key only as a hash)."""
    digest = hashlib.sha256(f"{ingest_url}\n{key}".encode()).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "spendscope" / "ingest" / digest


def _encode(item: dict[str, Any] | Callable[[], dict[str, Any]]) -> bytes | None:
    try:
        return orjson.dumps(item() if callable(item) else item)
    except Exception:
        log.exception("spendscope: an event could not be built; skipped")
        return None


class Shipper:
    """One background sender per (ingest URL, key); thread-safe ``submit``."""

    def __init__(
        self,
        ingest_url: str,
        key: str,
        *,
        buffer_dir: Path | None = None,
        max_queue: int = 10_000,
        batch_size: int = 500,
        flush_interval_s: float = 1.0,
        spill_interval_s: float = 0.05,
        timeout_s: float = 10.0,
        max_backoff_s: float = 60.0,
        flush_timeout_s: float = 5.0,
    ) -> None:
        self.url, self._key = ingest_url, key
        self.dir = buffer_dir or default_buffer_dir(ingest_url, key)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_queue, self.batch_size = max_queue, batch_size
        self.flush_interval_s, self.max_backoff_s = flush_interval_s, max_backoff_s
        self.spill_interval_s = spill_interval_s
        self.flush_timeout_s = flush_timeout_s
        self.dropped = 0  # events refused because the queue was full
        self.acknowledged = 0  # events the gateway answered for (booked or refused)
        self.refused = 0  # events the gateway refused (per-event reasons, logged)
        self._queue: collections.deque[dict[str, Any] | Callable[[], dict[str, Any]]] = (
            collections.deque()
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._token = secrets.token_hex(8)
        self._seq = 0
        self._open: tuple[int, Path, int, float] | None = None  # fd, path, events, opened at
        self._failures = 0
        self._retry_at = 0.0
        self._lock_fd = self._take_lock()
        self._adopt()
        self._http = httpx.Client(timeout=timeout_s)
        self._thread = threading.Thread(target=self._run, name="spendscope-ingest", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # --- the app's side ----------------------------------------------------------------
    def submit(self, event: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
        """Queue one event (or a function building it, run on the shipper's thread);
        never blocks, never raises."""
        if len(self._queue) >= self.max_queue:
            self.dropped += 1
            if self.dropped == 1:
                log.error("spendscope: the ingest queue is full; dropping events")
            return
        self._queue.append(event)
        if len(self._queue) >= self.batch_size and not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Write and send everything now (for tests and scripts); True if nothing is left."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._queue and not self._open and not self._segments():
                return True
            self._retry_at = 0.0
            self._wake.set()
            time.sleep(0.02)
        return False

    def close(self) -> None:
        """Stop the thread: queued events go to disk, then sent within ``flush_timeout_s``."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        self._thread.join(self.flush_timeout_s + 1)
        self._http.close()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)

    # --- the thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._sleep_s())
            self._wake.clear()
            self._cycle(force=False)
        self._cycle(force=True)
        deadline = time.monotonic() + self.flush_timeout_s
        while self._segments() and time.monotonic() < deadline and self._send_one():
            pass

    def _cycle(self, *, force: bool) -> None:
        try:
            self._spill()
            opened = self._open
            if opened is not None and (
                force or time.monotonic() - opened[3] >= self.flush_interval_s
            ):
                self._seal()
            while time.monotonic() >= self._retry_at and self._send_one():
                if self._stop.is_set() and not force:
                    break
        except Exception:  # the thread must survive anything: the events are on disk
            log.exception("spendscope: the ingest shipper failed; retrying")
            self._retry_at = time.monotonic() + self.flush_interval_s

    def _sleep_s(self) -> float:
        wait = self.spill_interval_s
        if self._segments():
            wait = min(wait, max(0.0, self._retry_at - time.monotonic()))
        return max(wait, 0.005)

    def _spill(self) -> None:
        """Queued events to the open segment (a new one every ``batch_size`` events)."""
        queue = self._queue
        while queue:
            if self._open is None:
                self._seq += 1
                path = self.dir / f"{self._token}-{time.time_ns()}-{self._seq:06d}{_OPEN}"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                self._open = (fd, path, 0, time.monotonic())
            fd, path, count, opened = self._open
            room = self.batch_size - count
            lines: list[bytes] = []
            while queue and len(lines) < room:
                line = _encode(queue.popleft())
                if line is not None:
                    lines.append(line)
            if lines:
                os.write(fd, b"\n".join(lines) + b"\n")
            self._open = (fd, path, count + len(lines), opened)
            if count + len(lines) >= self.batch_size:
                self._seal()

    def _seal(self) -> None:
        """Close the open segment and make it ready to send."""
        if self._open is None:
            return
        fd, path, _, _ = self._open
        self._open = None
        os.close(fd)
        os.replace(path, path.with_suffix(_READY))

    def _segments(self) -> list[Path]:
        return sorted(p for p in self.dir.glob(f"{self._token}-*{_READY}"))

    def _send_one(self) -> bool:
        """Post the oldest ready segment; True when it is done with (sent or set aside)."""
        segments = self._segments()
        if not segments:
            return False
        path = segments[0]
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            return True
        try:
            response = self._http.post(
                self.url,
                content=body,
                headers={
                    "authorization": f"Bearer {self._key}",
                    "content-type": "application/x-ndjson",
                },
            )
        except httpx.HTTPError as exc:
            return self._failed(f"cannot reach {self.url}: {exc!r}")
        if response.status_code in (200, 207):
            self._acknowledged(path, response)
            return True
        if response.status_code in _PERMANENT:
            log.error(
                "spendscope: the gateway refused %s (%s): %s; kept as .rejected",
                path.name, response.status_code, response.text[:300],
            )  # fmt: skip
            os.replace(path, path.with_suffix(".rejected"))
            return True
        return self._failed(f"{self.url} answered {response.status_code}")

    def _acknowledged(self, path: Path, response: httpx.Response) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._failures = 0
        try:
            answer = response.json()
        except ValueError:
            return
        self.acknowledged += int(answer.get("accepted", 0)) + int(answer.get("rejected", 0))
        errors = answer.get("errors") or []
        self.refused += len(errors)
        for error in errors[:3]:
            log.warning("spendscope: the gateway refused an event: %s", error)

    def _failed(self, why: str) -> bool:
        self._failures += 1
        backoff = min(self.max_backoff_s, 0.5 * 2 ** min(self._failures, 20))
        self._retry_at = time.monotonic() + random.uniform(0, backoff)  # noqa: S311 - jitter
        if self._failures in (1, 5) or self._failures % 50 == 0:
            log.warning("spendscope: ingest failed (%d in a row): %s", self._failures, why)
        return False

    # --- across restarts -------------------------------------------------------------
    def _take_lock(self) -> int:
        fd = os.open(self.dir / f"{self._token}{_LOCK}", os.O_WRONLY | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd

    def _adopt(self) -> None:
        """Take over the segments of processes that are gone (their lock is free or lost)."""
        tokens = {
            p.name.split("-", 1)[0] for p in self.dir.glob("*-*") if p.suffix in (_OPEN, _READY)
        }
        for token in sorted(tokens - {self._token}):
            lock = self.dir / f"{token}{_LOCK}"
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue  # its process is alive
            for old in sorted(self.dir.glob(f"{token}-*")):
                if old.suffix in (_OPEN, _READY):
                    rest = old.name.removeprefix(token).removesuffix(old.suffix)
                    os.replace(old, self.dir / f"{self._token}{rest}{_READY}")
            lock.unlink(missing_ok=True)
            os.close(fd)
