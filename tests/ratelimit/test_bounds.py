"""Row 11: the true bound of an RPM limit, on every backend.

The sliding-window counter is exact per clock-aligned minute, not per rolling 60 s: traffic
bunched at the end of one minute is assumed spread over it, so the next minute admits again
as it "slides out". Reproduced here as reported (a new key with rpm 60, 64 concurrent
clients for 10 s across a minute boundary) and held to the documented bound.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from collector.ratelimit import Limit, RateLimiter, window_position
from tests.ratelimit.test_limiters import T0, limiter

__all__ = ["limiter"]
LIMIT = 60


async def _burst(lim: RateLimiter) -> list[datetime]:
    """64 concurrent clients, each trying every 100 ms, from T0 − 5 s to T0 + 5 s."""
    rpm = Limit("key:row11:rpm", LIMIT, 1, "requests per minute of key k")
    admitted: list[datetime] = []
    for tick in range(100):
        now = T0 - timedelta(seconds=5) + timedelta(milliseconds=100 * tick)
        decisions = await asyncio.gather(*(lim.acquire([rpm], now) for _ in range(64)))
        admitted += [now for d in decisions if d.allowed]
    return admitted


def _max_rolling(times: list[datetime], span: timedelta) -> int:
    return max(sum(1 for t in times if start <= t < start + span) for start in times)


async def test_rpm_is_exact_per_clock_minute_and_below_twice_per_rolling_minute(
    limiter: RateLimiter,
) -> None:
    admitted = await _burst(limiter)
    per_window: dict[int, int] = {}
    for t in admitted:
        index = window_position(t)[0]
        per_window[index] = per_window.get(index, 0) + 1
    assert all(n <= LIMIT for n in per_window.values())  # exact per clock-aligned minute
    rolling = _max_rolling(admitted, timedelta(seconds=60))
    assert LIMIT < rolling <= 2 * LIMIT - 1  # the documented bound; not exact per rolling 60 s
    assert len(admitted) > LIMIT  # as reported (69 in 10 s there): the limit, then the slide
