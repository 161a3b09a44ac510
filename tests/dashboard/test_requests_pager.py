"""The request log's pager: steps by cursor land on the same rows as pages by offset."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import dash
import pytest
from sqlalchemy import Engine

from collector import analytics
from dashboard.pages import requests
from dashboard.pages._common import View, view
from tests.dashboard.conftest import login_settings
from tests.dashboard.seed import Seeded

SIZE = requests.PAGE_SIZE


@pytest.fixture(autouse=True)
def _request_context(app: dash.Dash) -> Iterator[None]:
    with app.server.test_request_context():
        yield


def _by_offset(page: int, sort: Any = None) -> list[str]:
    column, descending = requests.sort_of(sort)
    v = view("")
    df, _ = analytics.requests_page(
        v.engine,
        v.filters,
        page=page + 1,
        page_size=SIZE,
        sort_by=column,  # type: ignore[arg-type]
        descending=descending,
    )
    return list(df["id"])


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in rows]


def test_steps_by_cursor_match_offset_pages(seeded: tuple[Engine, Seeded]) -> None:
    rows, pages, _, page, state = requests.update_table("", 0, None, None, None)
    assert pages is not None and pages >= 4 and _ids(rows) == _by_offset(0) and state["page"] == 0
    for expected in (1, 2, 3, 2, 1, 2):  # next, next, next, prev, prev, next
        rows, _, _, page, state = requests.update_table("", expected, None, None, state)
        assert page == state["page"] == expected
        assert state["first"] and state["last"]  # read by cursor
        assert _ids(rows) == _by_offset(expected)
    rows, _, _, page, state = requests.update_table("", 2, None, 7, state)  # a refresh tick
    assert _ids(rows) == _by_offset(2) and page == 2
    last = pages - 1
    rows, _, _, page, state = requests.update_table("", last, None, None, state)
    assert state["first"] and _ids(rows) == _by_offset(last)  # the short last page
    rows, _, _, page, state = requests.update_table("", last - 1, None, None, state)
    assert state["first"] and _ids(rows) == _by_offset(last - 1)


def test_jumps_sorts_and_new_queries_read_by_offset(seeded: tuple[Engine, Seeded]) -> None:
    *_, state = requests.update_table("", 0, None, None, None)
    rows, _, _, page, jumped = requests.update_table("", 3, None, None, state)
    assert page == 3 and _ids(rows) == _by_offset(3) and "first" not in jumped
    dearest = [{"column_id": "cost_usd", "direction": "desc"}]
    rows, _, _, _, by_cost = requests.update_table("", 1, dearest, None, state)
    assert _ids(rows) == _by_offset(1, dearest) and "first" not in by_cost
    # a state read for another query is not reused
    rows, _, _, page, _ = requests.update_table("?outcome=success", 1, None, None, state)
    assert page == 1 and all(r["outcome"] == "success" for r in rows)


def test_a_range_past_the_retention_says_so(seeded: tuple[Engine, Seeded]) -> None:
    week = view("?range=7d")
    kept = View(week.engine, login_settings(retention_days=2), week.filters, week.now)
    assert "past the 2-day retention" in requests.retention_note(kept)
    day = view("?range=24h")
    assert requests.retention_note(replace(kept, filters=day.filters)) == ""
    assert requests.retention_note(week) == ""  # the default keeps everything
    _, _, label, _, _ = requests.update_table("?range=7d", 0, None, None, None)
    assert "retention" not in label


def test_a_search_past_the_count_cap_says_more_than_and_has_no_last_page(
    seeded: tuple[Engine, Seeded], monkeypatch: pytest.MonkeyPatch
) -> None:
    size = 4
    monkeypatch.setattr(requests, "PAGE_SIZE", size)
    query = "?range=30d&q=upstream+said+no"
    _, pages, _, _, state = requests.update_table(query, 0, None, None, None)
    assert pages is not None and pages >= 3 and not state["capped"], pages  # exact
    monkeypatch.setattr(requests, "COUNT_CAP", size + 1)  # the total would read 2 pages
    rows, pages, label, _, state = requests.update_table(query, 0, None, None, None)
    assert (pages, state["capped"]) == (None, True)
    assert label.startswith(f"more than {size + 1:,} matching requests")
    # page 1 would be the last page of the capped total: it is read as a page like any
    # other, not as the range's last rows
    rows, _, _, page, state = requests.update_table(query, 1, None, None, state)
    assert page == 1 and len(rows) == size
    _, pages, label, _, _ = requests.update_table("", 0, None, None, None)  # no search: exact
    assert pages is not None and not label.startswith("more than")


def test_sorts_by_cost_or_duration_offer_their_first_pages(
    seeded: tuple[Engine, Seeded], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(requests, "SORTED_PAGES", 2)
    dearest = [{"column_id": "cost_usd", "direction": "desc"}]
    rows, pages, label, page, _ = requests.update_table("", 5, dearest, None, None)
    assert (pages, page) == (2, 1) and _ids(rows) == _by_offset(1, dearest)
    assert f"by cost: the first {2 * SIZE:,}" in label
    _, pages, label, page, _ = requests.update_table("", 5, None, None, None)  # by time: all
    assert pages is not None and pages > 2 and page == 5 and "the first" not in label
