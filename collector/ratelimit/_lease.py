"""Rate-limit leases: headroom charged to a shared Redis counter in one go, spent in memory.

Far from its limit, a key need not ask Redis about every request. With a request that goes to
Redis anyway, a process asks for a *lease*: after the request itself is checked and charged,
the script also charges ``lease`` more units to the same window's counter — only if the
sliding-window estimate with them still fits the limit — and the process admits later
requests of that window from the lease in memory, all or nothing per request.

Why this never admits more than the limit: every unit ever added to a counter was checked
against the estimate at that moment, and within one window the estimate only falls as time
passes (the previous window slides out). A lease is used only in the window it was charged to
and only against the limit it was checked against. The price is the other way round: headroom
one process holds unused can refuse another process's request early — by less than one and a
half leases (see below) per other process and key, a lease being ``min(requests × cost,
limit / 32)`` — until it is given back (with the holder's next request for that key that has
to ask Redis, at shutdown, or when the window slides out). A lease smaller than two requests
is not taken: small limits stay exact.

So that requests do not wait for Redis when a lease runs out, a lease below half its size is
topped up in the background (one refill in flight per key), which is why a process can hold
up to one and a half leases per key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collector.ratelimit._window import Limit

LEASE_SHARE = 32  # a lease is at most 1/LEASE_SHARE of its limit


@dataclass(slots=True)
class Lease:
    """Units of one limit key's window counter this process holds unused."""

    index: int  # the window the units were charged to
    limit: int  # the limit they were checked against
    free: int
    size: int  # units granted when it was taken (a refill asks for as many again)


class Leases:
    """The leases of one process, one per limit key; used from its event loop only."""

    def __init__(self, requests: int) -> None:
        self._requests = requests
        self._active: dict[str, Lease] = {}
        self._owed: dict[tuple[str, int], int] = {}  # (key, window) → units to give back
        self._refilling: set[str] = set()  # keys with a refill in flight
        self.granted = 0  # leases granted or topped up (for benchmarks and tests)

    @property
    def enabled(self) -> bool:
        return self._requests > 0

    def size(self, lim: Limit) -> int:
        """Units to ask for with a request charging ``lim``; 0 when a lease would be too small."""
        unit = max(lim.cost, 1)
        size = min(self._requests * unit, lim.limit // LEASE_SHARE)
        return size if self._requests > 0 and size >= 2 * unit else 0

    def take(self, limits: Sequence[Limit], index: int) -> bool:
        """Admit from the leases: every limit's lease covers its cost (then all are charged)."""
        leases = []
        for lim in limits:
            lease = self._active.get(lim.key)
            if lease is None or lease.index != index or lease.limit != lim.limit:
                return False
            if lease.free < lim.cost:
                return False
            leases.append(lease)
        for lease, lim in zip(leases, limits, strict=True):
            lease.free -= lim.cost
        return True

    def running_low(self, keys: Sequence[str], index: int) -> list[Limit]:
        """Zero-cost limits to refill: leases of window ``index`` below half their size that
        have no refill in flight (marked as refilling until :meth:`refilled`)."""
        out = []
        for key in keys:
            lease = self._active.get(key)
            if lease is None or lease.index != index or key in self._refilling:
                continue
            if lease.free * 2 < lease.size:
                self._refilling.add(key)
                out.append(Limit(key, lease.limit, 0, ""))
        return out

    def refill_size(self, lim: Limit, index: int) -> int:
        """Units a refill of ``lim`` asks for: the size of its lease, if it is still there."""
        lease = self._active.get(lim.key)
        if lease is None or lease.index != index or lease.limit != lim.limit:
            return 0
        return lease.size

    def refilled(self, key: str) -> None:
        self._refilling.discard(key)

    def give_back(self, lim: Limit, index: int) -> bool:
        """Refund ``lim.cost`` into the lease of window ``index``; False if there is none."""
        lease = self._active.get(lim.key)
        if lease is None or lease.index != index:
            return False
        lease.free += lim.cost
        return True

    def draw(self, key: str, amount: int, index: int) -> int:
        """Charge late usage from the lease of window ``index``; returns what it did not cover."""
        lease = self._active.get(key)
        if lease is None or lease.index != index:
            return amount
        covered = min(lease.free, amount)
        lease.free -= covered
        return amount - covered

    def returns(self, key: str, index: int) -> tuple[int, int]:
        """Hand back every unused unit of ``key`` for windows (index − 1, index): the lease is
        ended and the caller's next script call subtracts them. Older units have expired."""
        lease = self._active.pop(key, None)
        if lease is not None and lease.free > 0:
            slot = (key, lease.index)
            self._owed[slot] = self._owed.get(slot, 0) + lease.free
        prev = self._owed.pop((key, index - 1), 0)
        curr = self._owed.pop((key, index), 0)
        for slot in [s for s in self._owed if s[0] == key and s[1] < index - 1]:
            del self._owed[slot]
        return prev, curr

    def grant(self, lim: Limit, index: int, units: int) -> None:
        """Redis charged ``units`` for this process: admit from them in window ``index``."""
        old = self._active.get(lim.key)
        if old is not None and old.index == index and old.limit == lim.limit:
            old.free += units
        else:
            if old is not None and old.free > 0:
                slot = (lim.key, old.index)
                self._owed[slot] = self._owed.get(slot, 0) + old.free
            self._active[lim.key] = Lease(index, lim.limit, units, units)
        self.granted += 1

    def drain(self) -> list[tuple[str, int, int]]:
        """Every unused unit as (key, window, units), forgetting them (shutdown)."""
        for key, lease in self._active.items():
            if lease.free > 0:
                slot = (key, lease.index)
                self._owed[slot] = self._owed.get(slot, 0) + lease.free
        self._active.clear()
        out = [(key, index, units) for (key, index), units in self._owed.items()]
        self._owed.clear()
        return out
