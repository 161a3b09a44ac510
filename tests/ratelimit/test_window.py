"""The sliding-window math shared by both limiters."""

from __future__ import annotations

from datetime import UTC, datetime

from collector.ratelimit import Limit, retry_after, window_position
from collector.ratelimit._window import decide


def test_window_position() -> None:
    index, fraction = window_position(datetime(2026, 1, 1, 0, 0, 15, tzinfo=UTC))
    assert fraction == 0.25
    assert index * 60 == datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def test_retry_after_within_the_current_window() -> None:
    # 10 rpm, 30 s into the window, previous window had 10: it counts as 5.
    lim = Limit("k", 10, 1, "rpm")
    assert decide([lim], [(10, 4)], 0.5).allowed  # 5 + 4 + 1 = 10 <= 10
    assert not decide([lim], [(10, 5)], 0.5).allowed  # 5 + 5 + 1 = 11
    # prev 10, curr 5 at 50 %: estimate 10, a new request needs estimate <= 9 → prev×(1-f) <= 4
    assert retry_after(lim, 10, 5, 0.5) == 6  # f' = 0.6 → 0.1 × 60 s


def test_retry_after_in_the_next_window() -> None:
    lim = Limit("k", 10, 1, "rpm")
    # current window already holds 10: wait for the next window, then for 10 % of it.
    assert retry_after(lim, 0, 10, 0.75) == 21  # 15 s to the boundary + 6 s


def test_request_larger_than_the_limit_never_fits() -> None:
    lim = Limit("k", 1000, 1500, "tpm")
    decision = decide([lim], [(0, 0)], 0.0)
    assert decision.never and decision.exceeded is lim
