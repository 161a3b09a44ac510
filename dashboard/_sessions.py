"""Server-side state of dashboard sign-ins: live sessions, and throttled password guesses.

The session cookie is signed, but a signed cookie alone stays valid until it expires, even
after its user signs out. So each sign-in also gets a random id held here, and the guard
accepts a cookie only while its id is live: signing out ends the session for good.
Both are held in the dashboard process's memory (the dashboard is one process serving
threads): a restart signs everyone out, which is the safe direction.

Password guesses are throttled per user name and per client address: after
``FREE_FAILURES`` failures, each further one locks that name or address for twice as long
(1 s, 2 s, 4 s … up to ``MAX_LOCK_S``); failures are forgotten after ``FORGET_AFTER_S``
without one, and a successful sign-in clears its user name.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

FREE_FAILURES = 5
MAX_LOCK_S = 900.0
FORGET_AFTER_S = 900.0
MAX_TRACKED = 10_000  # sessions or throttle entries kept; the oldest go first


class SessionStore:
    """Live sign-ins by random id, each with its user and expiry."""

    def __init__(self, lifetime_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._lifetime_s = lifetime_s
        self._clock = clock
        self._live: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, user: str) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._live[sid] = (user, self._clock() + self._lifetime_s)
            while len(self._live) > MAX_TRACKED:
                self._live.popitem(last=False)
        return sid

    def is_live(self, sid: object, user: str) -> bool:
        if not isinstance(sid, str):
            return False
        with self._lock:
            found = self._live.get(sid)
            if found is None or found[1] <= self._clock():
                self._live.pop(sid, None)
                return False
        return secrets.compare_digest(found[0], user)

    def close(self, sid: object) -> None:
        if isinstance(sid, str):
            with self._lock:
                self._live.pop(sid, None)


@dataclass(slots=True)
class _Failures:
    count: int
    last: float
    locked_until: float


class LoginThrottle:
    """Failed sign-ins per key (``user:NAME``, ``ip:ADDRESS``) with exponential lock-outs."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def wait_s(self, *keys: str) -> float:
        """Seconds until every key may try again (0: now)."""
        now = self._clock()
        with self._lock:
            found = [self._seen.get(k) for k in keys]
        return max([f.locked_until - now for f in found if f is not None] + [0.0])

    def failed(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                entry = self._seen.pop(key, None)
                if entry is None or now - entry.last > FORGET_AFTER_S:
                    entry = _Failures(0, now, 0.0)
                entry.count += 1
                entry.last = now
                if entry.count >= FREE_FAILURES:
                    lock = min(2.0 ** (entry.count - FREE_FAILURES), MAX_LOCK_S)
                    entry.locked_until = now + lock
                self._seen[key] = entry
            while len(self._seen) > MAX_TRACKED:
                self._seen.popitem(last=False)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)
