"""In a real browser: the banner that says the read replica is behind, over a real streaming
replica whose replay is paused, and gone once it has caught up."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from collector.db import make_engine
from collector.settings import Settings
from dashboard import create_dash_app
from tests.dashboard.test_browser import assert_no_errors, start
from tests.gateway._support import virtual_key
from tests.support.pg_replica import ReplicatedDatabase, replay_paused

BANNER = "#shell-replica"


def _visit_until(dash_duo: Any, base: str, shows: Callable[[str], bool]) -> str:
    """Load the page until the banner's text satisfies ``shows`` (each visit re-measures the
    lag: it grows past the bound while replay is paused, and ends once replay catches up)."""
    deadline = time.monotonic() + 30
    while True:
        dash_duo.driver.get(base + "/")
        dash_duo.wait_for_element("#react-entry-point", timeout=10)
        text = str(dash_duo.find_element(BANNER).text)
        if shows(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.3)


def test_the_replica_lag_banner_in_the_browser(
    dash_duo: Any, replicated: ReplicatedDatabase
) -> None:
    settings = Settings(
        database_url=replicated.primary_url,
        read_database_url=replicated.replica_url,
        dashboard_allow_anonymous=True,
        replica_lag_bound_s=1.0,
    )
    app = create_dash_app(settings)
    primary = make_engine(replicated.primary_url)
    base = start(dash_duo, app)
    try:
        replay_paused(replicated.replica_url, True)
        try:
            virtual_key(primary)  # committed on the primary; the replica does not apply it
            shown = _visit_until(dash_duo, base, lambda text: "read replica is behind" in text)
            assert "bytes of WAL not yet replayed" in shown
        finally:
            replay_paused(replicated.replica_url, False)
        assert _visit_until(dash_duo, base, lambda text: text == "") == ""
        assert_no_errors(dash_duo)
    finally:
        primary.dispose()
