"""The request table sorted by duration reads only rows past a bound from the rollups'
latency histograms, and pages exactly as ranking every row would, on both databases."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, update

from collector.analytics import Filters, requests_page
from collector.db.models import hourly_project_rollups, hourly_rollups
from collector.recorder import UsageEvent, write_batch
from tests.factories import make_event, make_key, make_project

START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
# partial hours at both ends around whole ones
RANGE = Filters(START + timedelta(minutes=20), START + timedelta(hours=5, minutes=40))


@pytest.fixture
def spread(engine: Engine) -> list[UsageEvent]:
    """300 requests over 6 hours, durations over every bucket (ties included), 2 projects."""
    rng = random.Random(11)
    projects = [make_project(engine, "p1"), make_project(engine, "p2")]
    keys = [make_key(engine, p, f"sk-{p}") for p in projects]
    events = []
    for i in range(300):
        p = i % 2
        duration = rng.choice((0.4, 5.0, 75.0, 300.0, 999.5, 1000.0))
        duration = duration if rng.random() < 0.3 else rng.lognormvariate(6.5, 1.5)
        events.append(
            make_event(
                started_at=START + timedelta(seconds=rng.randrange(6 * 3600)),
                duration_ms=round(duration, 3),
                project_id=projects[p],
                api_key_id=keys[p],
                outcome="timeout" if rng.random() < 0.2 else "success",
            )
        )
    write_batch(engine, events)
    return events


def _pages(engine: Engine, f: Filters, size: int, **kw: Any) -> tuple[list[str], list[str]]:
    """Every page's ids in order, and the statements run."""
    statements: list[str] = []

    def log(*args: Any) -> None:
        statements.append(args[2])

    ids: list[str] = []
    event.listen(engine, "before_cursor_execute", log)
    try:
        for page in range(1, 200):
            df, total = requests_page(engine, f, page=page, page_size=size, **kw)
            ids += list(df["id"])
            if len(ids) >= total or df.empty:
                break
    finally:
        event.remove(engine, "before_cursor_execute", log)
    return ids, statements


def _bounded(statements: list[str]) -> bool:
    return any("duration_ms >" in s or "duration_ms <=" in s for s in statements)


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("filtered", [False, True])
def test_duration_pages_equal_the_raw_order(
    engine: Engine, spread: list[UsageEvent], descending: bool, filtered: bool
) -> None:
    f, kw = RANGE, {}
    if filtered:
        f = Filters(RANGE.start, RANGE.end, project_ids=(spread[1].project_id or 0,))
        kw = {"outcome": "timeout"}
    ids, statements = _pages(engine, f, 9, sort_by="duration_ms", descending=descending, **kw)
    inside = [
        e
        for e in spread
        if f.start <= e.started_at < f.end
        and (not filtered or (e.project_id == f.project_ids[0] and e.outcome == "timeout"))
    ]
    ranked = sorted(inside, key=lambda e: (e.duration_ms, e.id), reverse=descending)
    assert ids == [e.id for e in ranked]
    assert _bounded(statements)  # the first pages read past a bound


def test_a_bound_from_rollups_ahead_of_the_rows_falls_back(
    engine: Engine, spread: list[UsageEvent]
) -> None:
    """Rollups that count more slow requests than exist must not shorten a page."""
    for table in (hourly_rollups, hourly_project_rollups):
        with engine.begin() as conn:
            conn.execute(update(table).values(lat_b25=table.c.lat_b25 + 1000))
    ids, statements = _pages(engine, RANGE, 20, sort_by="duration_ms")
    inside = [e for e in spread if RANGE.start <= e.started_at < RANGE.end]
    assert ids == [e.id for e in sorted(inside, key=lambda e: (e.duration_ms, e.id), reverse=True)]
    ranked = [s for s in statements if "ORDER BY requests.duration_ms" in s]
    assert _bounded(ranked[:1]) and not _bounded(ranked[1:2])  # bounded, short, read again


def test_no_bound_when_the_range_has_no_whole_hour_or_a_search(
    engine: Engine, spread: list[UsageEvent]
) -> None:
    narrow = Filters(START + timedelta(minutes=5), START + timedelta(minutes=50))
    _, statements = _pages(engine, narrow, 5, sort_by="duration_ms")
    assert not _bounded(statements)
    _, statements = _pages(engine, RANGE, 5, sort_by="duration_ms", search="nothing-matches")
    assert not _bounded(statements)
