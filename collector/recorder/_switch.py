"""Quick thread switches while the recorder writes from a worker thread of the gateway."""

from __future__ import annotations

import sys
import threading

# While a batch is built and written in a worker thread, the event loop waits at most this
# long for the GIL whenever it wakes up (CPython's default, 5 ms, per wake-up: a request that
# met a flush waited that long several times over, which set the gateway's p99 latency).
WRITE_SWITCH_INTERVAL_S = 0.0001


class SwitchInterval:
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


QUICK_SWITCHES = SwitchInterval(WRITE_SWITCH_INTERVAL_S)
