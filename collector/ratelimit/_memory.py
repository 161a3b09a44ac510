"""In-process rate limiter: counters in a dict, one lock; right for a single gateway process."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from collector.ratelimit._window import Decision, Limit, decide, window_position


class InProcessLimiter:
    """Sliding-window counters per (limit key, window index), pruned as windows pass."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._pruned_at = 0

    def _prune(self, index: int) -> None:
        if index == self._pruned_at:
            return
        self._pruned_at = index
        for key in [k for k in self._counts if k[1] < index - 1]:
            del self._counts[key]

    def check(self, limits: Sequence[Limit], now: datetime) -> Decision:
        """Charge every limit, or none if one would be exceeded (synchronous core)."""
        index, fraction = window_position(now)
        with self._lock:
            self._prune(index)
            counts = [
                (self._counts.get((lim.key, index - 1), 0), self._counts.get((lim.key, index), 0))
                for lim in limits
            ]
            decision = decide(limits, counts, fraction)
            if decision.allowed:
                for lim in limits:
                    slot = (lim.key, index)
                    self._counts[slot] = self._counts.get(slot, 0) + lim.cost
            return decision

    def add_sync(self, keys: Sequence[str], amount: int, now: datetime) -> None:
        index, _ = window_position(now)
        with self._lock:
            for key in keys:
                self._counts[(key, index)] = self._counts.get((key, index), 0) + amount

    def refund_sync(self, limits: Sequence[Limit], now: datetime) -> None:
        """Take back what :meth:`check` charged (same ``now``): the request was refused later."""
        index, _ = window_position(now)
        with self._lock:
            for lim in limits:
                slot = (lim.key, index)
                left = self._counts.get(slot, 0) - lim.cost
                if left > 0:
                    self._counts[slot] = left
                else:
                    self._counts.pop(slot, None)

    async def acquire(self, limits: Sequence[Limit], now: datetime) -> Decision:
        return self.check(limits, now)

    async def refund(self, limits: Sequence[Limit], now: datetime) -> None:
        self.refund_sync(limits, now)

    async def add(self, keys: Sequence[str], amount: int, now: datetime) -> None:
        """Charge extra usage learnt after the fact (e.g. completion tokens) without a check."""
        self.add_sync(keys, amount, now)

    async def aclose(self) -> None:
        return None
