"""A typed page number by time, found through the rollups: the rows OFFSET gives, exactly."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete

from collector.analytics import Filters, requests_page
from collector.analytics import _requests as requests_module
from collector.db import Attempt, Request
from collector.recorder import UsageEvent, write_batch
from tests.factories import make_event, make_key, make_project

START = datetime(2026, 10, 30, 22, 0, tzinfo=UTC)
# partial hours and partial days at both ends
RANGE = Filters(START + timedelta(minutes=30, seconds=15), START + timedelta(hours=52, minutes=21))
SIZE = 7
OUTCOMES = ("success", "success", "success", "timeout", "upstream_error", "client_error")


@dataclass(frozen=True)
class Spread:
    a: int
    b: int
    key_a: int
    events: list[UsageEvent]


@pytest.fixture
def spread(engine: Engine) -> Spread:
    """~600 requests over three days, unevenly per hour (some hours empty, some seconds
    holding several requests), two projects, several outcomes and models."""
    rng = random.Random(22)
    a, b = make_project(engine, "a"), make_project(engine, "b")
    key_a, key_b = make_key(engine, a, "sk-a"), make_key(engine, b, "sk-b")
    events = []
    for _ in range(600):
        hour = rng.choice([h for h in range(56) if h % 9 != 4])  # every ninth hour empty
        at = START + timedelta(hours=hour, seconds=rng.randrange(0, 3600, 7))
        project, key = (a, key_a) if rng.random() < 0.6 else (b, key_b)
        served = rng.choice(["gpt-4o-mini", "gpt-4o", None])
        events.append(
            make_event(
                started_at=at, project_id=project, api_key_id=key,
                end_user=rng.choice(["u1", "u2", None]), outcome=rng.choice(OUTCOMES),
                model_served=served, model_requested="gpt-4o" if served is None else served,
            )
        )  # fmt: skip
    assert write_batch(engine, events) == len(events)
    return Spread(a, b, key_a, events)


def _pages(engine: Engine, f: Filters, jump_from: int, **kw: Any) -> list[list[str]]:
    requests_module.JUMP_FROM = jump_from
    first, total = requests_page(engine, f, page=1, page_size=SIZE, **kw)
    pages = [list(first["id"])]
    for page in range(2, -(-total // SIZE) + 2):  # one page past the end: empty
        df, _ = requests_page(engine, f, page=page, page_size=SIZE, **kw)
        pages.append(list(df["id"]))
    return pages


@pytest.fixture
def jump_from() -> Iterator[None]:
    saved = requests_module.JUMP_FROM
    yield
    requests_module.JUMP_FROM = saved


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.usefixtures("jump_from")
def test_every_page_by_rollups_is_the_page_by_offset(
    engine: Engine, spread: Spread, descending: bool
) -> None:
    dims: list[tuple[Filters, dict[str, Any]]] = [
        (RANGE, {}),
        (Filters(RANGE.start, RANGE.end, project_ids=(spread.a,)), {"outcome": "success"}),
        (Filters(RANGE.start, RANGE.end, models=("gpt-4o",)), {}),
        (Filters(RANGE.start, RANGE.end, api_key_ids=(spread.key_a,), end_users=("u1",)), {}),
        (Filters(RANGE.start, RANGE.start + timedelta(minutes=50)), {}),  # within one hour
    ]
    for f, kw in dims:
        by_offset = _pages(engine, f, 10**9, descending=descending, **kw)
        assert sum(map(len, by_offset)) > SIZE
        assert _pages(engine, f, 0, descending=descending, **kw) == by_offset


@pytest.mark.usefixtures("jump_from")
def test_hours_whose_rows_retention_removed_are_not_counted_over(
    engine: Engine, spread: Spread
) -> None:
    """Raw rows gone while the rollups still count them (as retention leaves an old month):
    counting over those hours would misplace every later page; ``rows_from`` says where
    the raw rows are whole, and a page whose count would cross it is read by offset."""
    cutoff = START + timedelta(hours=20)
    with engine.begin() as conn:
        gone = [e.id for e in spread.events if e.started_at < cutoff][::2]
        conn.execute(delete(Attempt).where(Attempt.request_id.in_(gone)))
        conn.execute(delete(Request).where(Request.id.in_(gone)))
    for descending in (True, False):
        by_offset = _pages(engine, RANGE, 10**9, descending=descending, rows_from=cutoff)
        assert _pages(engine, RANGE, 0, descending=descending, rows_from=cutoff) == by_offset
        # without it the rollups' counts are trusted, and some page differs: the jump is
        # what reads these pages
        assert _pages(engine, RANGE, 0, descending=descending) != by_offset
