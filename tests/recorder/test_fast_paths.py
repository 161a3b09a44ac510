"""The writer's shortcuts give exactly what the slow paths they replace give."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta, timezone

from collector.db import engine as db_engine
from collector.recorder import _binds, rollup

_FIRST = datetime(1, 1, 2, tzinfo=UTC)
_SPAN_S = int((datetime(9999, 12, 30, tzinfo=UTC) - _FIRST).total_seconds())


def _moments(rng: random.Random, n: int) -> list[datetime]:
    out = [
        _FIRST + timedelta(seconds=rng.randrange(_SPAN_S), microseconds=rng.randrange(10**6))
        for _ in range(n)
    ]
    live = datetime(2026, 11, 1, 23, 59, 59, tzinfo=UTC)  # a live stream crosses midnight
    out += [live + timedelta(microseconds=i * 997) for i in range(3000)]
    return out


def test_utc_text_is_isoformat_to_the_microsecond() -> None:
    for moment in _moments(random.Random(7), 50_000):
        assert _binds._utc_text(moment) == moment.isoformat(" ", "microseconds")[:-6]


def test_utc_text_cache_stays_bounded() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(3 * _binds._SECONDS_KEPT):
        moment = start + timedelta(seconds=i, microseconds=i)
        assert _binds._utc_text(moment) == moment.isoformat(" ", "microseconds")[:-6]
    assert len(_binds._SECONDS) <= _binds._SECONDS_KEPT


def test_hour_of_is_the_utc_hour_whatever_the_zone() -> None:
    rng = random.Random(11)
    for moment in _moments(rng, 30_000):
        zone = timezone(timedelta(minutes=rng.randrange(-12 * 60, 14 * 60, 15)))
        local = moment.astimezone(zone) if rng.random() < 0.3 else moment
        hour = rollup.hour_of(local)
        assert hour == moment.replace(minute=0, second=0, microsecond=0)
        assert hour.tzinfo is UTC
    assert len(rollup._HOURS) <= rollup._HOURS_KEPT


def test_none_still_binds_null_with_the_adapter() -> None:
    assert db_engine._NOTHING == {}  # the adapter's table must stay empty
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a, b)")
    conn.execute("INSERT INTO t VALUES (?, ?)", (None, 1))
    assert conn.execute("SELECT a IS NULL, typeof(a), b FROM t").fetchone() == (1, "null", 1)
    assert sqlite3.adapters[(type(None), sqlite3.PrepareProtocol)] == db_engine._NOTHING.get
