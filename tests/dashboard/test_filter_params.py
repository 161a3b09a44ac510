"""Row 7: odd URL parameters are validated once, named on the page, and never crash a callback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import dash
import pytest
from sqlalchemy import Engine

from dashboard.filters import parse_search
from dashboard.pages import budgets, latency, overview, reliability, requests, spend
from dashboard.shell import filter_problems, range_text
from tests.dashboard.seed import Seeded

BAD = [
    "?tag=a%22b%3D1",
    "?tag=a%22b=1",
    "?tag=team=a%0Ab",
    "?tag=noequals",
    "?range=custom&from=0001-01-01&to=0001-01-02",
    "?range=custom&from=9999-12-30&to=9999-12-31",
    "?range=custom&from=2026-12-02&to=2026-12-01",
    "?range=custom&from=nope&to=2026-12-01",
    "?from=9999-12-30",
    "?range=forever",
    "?project=99999999999999999999999",
    "?project=-1&key=0&key=%D9%A3",
    "?user=%00&model=" + "m" * 300,
]
GOOD_TAG = "?tag=team%3Dcheckout"


@pytest.fixture(autouse=True)
def _request_context(app: dash.Dash) -> Iterator[None]:
    with app.server.test_request_context():
        yield


def _callbacks() -> list[Callable[[str], Any]]:
    return [
        lambda s: overview.update_cards(s, None),
        lambda s: overview.update_spend(s, None),
        lambda s: overview.update_latency(s, None),
        lambda s: spend.update_over_time(s, None),
        lambda s: spend.update_top(s, None),
        lambda s: spend.update_budgets(s, None),
        lambda s: spend.download_top(1, s),
        lambda s: reliability.update_budget(s, None),
        lambda s: reliability.update_trends(s, None),
        lambda s: reliability.update_errors(s, None),
        lambda s: reliability.download_budget(1, s),
        lambda s: reliability.download_errors(1, s),
        lambda s: latency.update(s, None),
        lambda s: requests.update_table(s, 0, None, None),
        lambda s: requests.download(1, s),
        lambda s: budgets.update(s, None, None),
        lambda s: budgets.download(1, s),
        range_text,
    ]


@pytest.mark.parametrize("search", [*BAD, GOOD_TAG])
def test_no_callback_raises_on_odd_parameters(seeded: tuple[Engine, Seeded], search: str) -> None:
    for callback in _callbacks():
        callback(search)  # raises on failure


@pytest.mark.parametrize("search", BAD)
def test_a_bad_parameter_is_named_on_the_page(search: str) -> None:
    state = parse_search(search)
    assert state.problems
    assert filter_problems(search).startswith("Some filters in this link were ignored:")


def test_good_parameters_raise_no_problem() -> None:
    search = "?range=custom&from=2026-11-01&to=2026-11-30&project=3&tag=team%3Dcheckout"
    state = parse_search(search)
    assert state.problems == () and state.tags == ("team=checkout",) and state.projects == (3,)
    assert filter_problems(search) == ""
