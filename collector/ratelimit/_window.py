"""Sliding-window-counter rate limiting: the pure math, shared by both backends.

Time is cut into fixed 60-second windows. A limit's usage "now" is estimated as
``previous window × (1 − f) + current window``, with f the elapsed fraction of the current
window: the previous window's count is assumed spread evenly and slides out linearly.
This smooths the 2× burst a plain fixed window allows at its boundary, costs two counters per
limit, and is what Cloudflare and others use. The bound it keeps: at most ``limit`` per
clock-aligned window (``curr`` alone must fit), and under ``2 × limit`` in any rolling 60 s
(``limit + prev × f``), since bunched traffic is assumed spread as it slides out.
A refusal tells exactly when the same request would next fit (Retry-After), assuming no
other traffic arrives meanwhile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

WINDOW_S = 60


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit to charge: ``key`` names the counter, ``cost`` is 1 (RPM) or tokens (TPM)."""

    key: str
    limit: int
    cost: int
    label: str


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    exceeded: Limit | None = None
    retry_after_s: int | None = None  # None with a refusal: the request can never fit

    @property
    def never(self) -> bool:
        return not self.allowed and self.retry_after_s is None


ALLOWED = Decision(True)


def window_position(now: datetime) -> tuple[int, float]:
    """(index of the current window, elapsed fraction of it in [0, 1))."""
    ts = now.timestamp()
    index = math.floor(ts / WINDOW_S)
    return index, (ts - index * WINDOW_S) / WINDOW_S


def estimate(prev: int, curr: int, fraction: float) -> float:
    return prev * (1.0 - fraction) + curr


def fits(limit: Limit, prev: int, curr: int, fraction: float) -> bool:
    return estimate(prev, curr, fraction) + limit.cost <= limit.limit


def retry_after(limit: Limit, prev: int, curr: int, fraction: float) -> int | None:
    """Whole seconds until the request would fit (>= 1), or None if it never can."""
    room = limit.limit - limit.cost
    if room < 0:
        return None
    if curr <= room:
        # Fits later in this window, once enough of the previous window has slid out.
        needed = 1.0 - (room - curr) / prev if prev else fraction
        wait = (needed - fraction) * WINDOW_S
    else:
        # Only in the next window, once enough of this window's count has slid out.
        needed = 1.0 - room / curr
        wait = (1.0 - fraction + needed) * WINDOW_S
    return max(1, math.ceil(wait - 1e-9))


def decide(limits: Sequence[Limit], counts: Sequence[tuple[int, int]], fraction: float) -> Decision:
    """Allowed if every limit fits; else the first limit that does not, with Retry-After."""
    for limit, (prev, curr) in zip(limits, counts, strict=True):
        if not fits(limit, prev, curr, fraction):
            return Decision(False, limit, retry_after(limit, prev, curr, fraction))
    return ALLOWED
