"""The midnight guard that day-bound tests use: it sleeps only near a UTC midnight, and just
far enough past it."""

from __future__ import annotations

import time

import pytest

from tests.support import clock


@pytest.mark.parametrize(
    ("into_day", "slept"),
    [(0.0, 120.0), (30.0, 90.0), (120.0, 0.0), (43200.0, 0.0), (86280.0, 0.0), (86350.0, 170.0)],
)
def test_sleeps_past_a_near_midnight_only(
    monkeypatch: pytest.MonkeyPatch, into_day: float, slept: float
) -> None:
    naps: list[float] = []
    monkeypatch.setattr(time, "time", lambda: 20_000 * clock.DAY_S + into_day)
    monkeypatch.setattr(time, "sleep", naps.append)
    clock.clear_of_midnight(120.0)
    assert sum(naps) == pytest.approx(slept)
