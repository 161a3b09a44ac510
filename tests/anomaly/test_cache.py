"""Earlier weeks read once per window: the same verdicts as a full read, fewer hours read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine

from collector.anomaly import (
    AnomalyParams,
    HistoryCache,
    Split,
    Watch,
    find_unusual,
    read_recent,
    read_spend,
    windows,
)
from collector.budgets import ScopeKind, parse_scope
from collector.recorder import write_batch
from tests.factories import make_event, make_key, make_project

NOW = datetime(2026, 11, 10, 3, 10, tzinfo=UTC)  # Tuesday, ten minutes into 03:00
HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)


def spend(engine: Engine, at: datetime, usd: str, key: int, pid: int) -> None:
    write_batch(engine, [make_event(started_at=at, cost_usd=Decimal(usd), project_id=pid,
                                    api_key_id=key)])  # fmt: skip


def seed(engine: Engine) -> tuple[int, int, int]:
    """Keys a and b spent $2 at 02:00, 03:00 and 04:00 in each of 4 earlier weeks."""
    pid = make_project(engine, "acme")
    a, b = make_key(engine, pid, "sk-ss-aaaa"), make_key(engine, pid, "sk-ss-bbbb")
    for k in range(1, 5):
        for h in (2, 3, 4):
            at = NOW.replace(hour=h, minute=15) - k * WEEK
            spend(engine, at, "2", a, pid)
            spend(engine, at, "2", b, pid)
    return pid, a, b


def test_a_cached_read_equals_a_full_one(engine: Engine) -> None:
    pid, a, b = seed(engine)
    spend(engine, NOW.replace(hour=2, minute=5), "30", a, pid)
    spend(engine, NOW.replace(hour=3, minute=5), "1", b, pid)
    cache = HistoryCache()
    scope, split = parse_scope("project:acme"), Split(ScopeKind.KEY)
    for now in (NOW, NOW + timedelta(minutes=20), NOW + HOUR, NOW + 2 * HOUR):
        for hours in (1, 2):
            wins = windows(now, hours, 6)
            with engine.connect() as conn:
                full = read_spend(conn, scope, split, wins)
                cached = read_recent(conn, scope, split, wins, cache)
            active = {m: s for m, s in full.items() if s.complete[0] or s.current[0]}
            assert cached == active
    assert len(cache) == 4  # per window length, the two windows of the last hour judged


def test_earlier_weeks_are_read_once_per_window(engine: Engine) -> None:
    pid, a, _b = seed(engine)
    spend(engine, NOW.replace(hour=2, minute=5), "30", a, pid)
    watch = Watch(parse_scope("project:acme"), Split(ScopeKind.KEY), 1, 8, AnomalyParams())
    cache = HistoryCache()
    [first] = find_unusual(engine, watch, NOW, cache)
    assert first.verdict.band.usual == 2 and first.verdict.band.weeks == 4
    # $40 more, late, at 02:00 three and four weeks ago: the cached window is not read again …
    for k in (3, 4):
        spend(engine, NOW.replace(hour=2, minute=30) - k * WEEK, "40", a, pid)
    [again] = find_unusual(engine, watch, NOW + timedelta(minutes=5), cache)
    assert again.verdict == first.verdict
    # … a full read sees 2, 2, 42, 42 (usual 22, spread 29.652): $30 is within the band
    assert find_unusual(engine, watch, NOW + timedelta(minutes=5)) == []
    # an hour on, 03:00 is the complete window: its earlier weeks were read as the running one
    spend(engine, NOW.replace(hour=3, minute=40), "25", a, pid)
    [later] = find_unusual(engine, watch, NOW + HOUR, cache)
    assert (later.start, later.verdict.observed) == (NOW.replace(minute=0), Decimal(25))
    assert later.verdict.band.usual == 2
