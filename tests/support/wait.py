"""Waiting on a condition with a deadline, instead of sleeping and hoping it has happened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_until(check: Callable[[], bool], seconds: float = 10.0, what: str = "condition") -> None:
    """Return as soon as ``check()`` holds; fail the test if it still does not after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {seconds} s")
        time.sleep(0.01)


async def until(check: Callable[[], bool], seconds: float = 10.0, what: str = "condition") -> None:
    """``wait_until`` for a test running on the event loop: other tasks run while it waits."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {seconds} s")
        await asyncio.sleep(0.01)
