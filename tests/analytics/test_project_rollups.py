"""Views not filtered or grouped by key or user read the project rollups, with the same answers
as the request rollups (every seeded request has a key, so "all keys" selects them all)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, event

from collector.analytics import (
    Filters,
    latency_over_time,
    overview,
    reliability,
    spend_over_time,
    top_spenders,
)
from tests.analytics.conftest import Seeded

# partial days at both ends (hourly tables) around a whole day (daily tables)
START, END = datetime(2026, 10, 31, 23, 15, tzinfo=UTC), datetime(2026, 11, 2, 0, 20, tzinfo=UTC)
NOW = datetime(2026, 11, 2, 0, 20, tzinfo=UTC)


@contextmanager
def _tables_read(engine: Engine) -> Iterator[set[str]]:
    """The rollup tables the statements run inside the block read from."""
    seen: set[str] = set()
    names = ("hourly_rollups", "daily_rollups", "hourly_project_rollups", "daily_project_rollups")

    def log(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.update(n for n in names if f"FROM {n} " in f"{statement} ")

    event.listen(engine, "before_cursor_execute", log)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", log)


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_unfiltered_views_read_the_project_rollups_with_the_same_answers(
    engine: Engine, seeded: Seeded
) -> None:
    everything = Filters(START, END)
    all_keys = Filters(START, END, api_key_ids=(seeded.key_a, seeded.key_b))
    views: list[tuple[str, Callable[[Filters], Any], Callable[[Any, Any], None]]] = [
        ("overview", lambda f: overview(engine, f, NOW), _equal),
        ("spend by model", lambda f: spend_over_time(engine, f, "model", "day"), _frames_equal),
        ("top projects", lambda f: top_spenders(engine, f, "project"), _frames_equal),
        ("latency by hour", lambda f: latency_over_time(engine, f, "hour"), _frames_equal),
        ("latency by day", lambda f: latency_over_time(engine, f, "day"), _frames_equal),
        ("reliability", lambda f: reliability(engine, f, "day"), _frames_equal),
    ]
    for name, view, same in views:
        with _tables_read(engine) as coarse:
            got = view(everything)
        with _tables_read(engine) as fine:
            want = view(all_keys)
        assert coarse and coarse <= {"hourly_project_rollups", "daily_project_rollups"}, name
        assert fine and fine <= {"hourly_rollups", "daily_rollups"}, name
        same(got, want)
    assert "daily_project_rollups" in coarse  # the whole day came from the daily copy


def _equal(a: Any, b: Any) -> None:
    assert a == b


def test_grouping_by_key_or_user_reads_the_request_rollups(engine: Engine, seeded: Seeded) -> None:
    f = Filters(START, END)
    for by in ("key", "user"):
        with _tables_read(engine) as read:
            df = spend_over_time(engine, f, by, "day")
        assert read == {"hourly_rollups", "daily_rollups"}, by
        assert df["requests"].sum() == 213
    with _tables_read(engine) as read:
        df = spend_over_time(engine, Filters(START, END, end_users=("u2",)), "model", "day")
    assert read == {"hourly_rollups", "daily_rollups"}
    assert df["requests"].sum() == 200
