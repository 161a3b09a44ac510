"""In a real browser: the sign-out form ends the session, and a bad link names what it ignored."""

from __future__ import annotations

from typing import Any

import dash
import pytest

from tests.dashboard.test_browser import login, start

pytestmark = pytest.mark.browser


def test_sign_out_posts_and_ends_the_session(dash_duo: Any, app: dash.Dash) -> None:
    base = start(dash_duo, app)
    login(dash_duo, base, path="/spend")
    dash_duo.wait_for_element(".ss-signout", timeout=10).click()
    dash_duo.wait_for_element("#login-form", timeout=10)
    dash_duo.driver.get(base + "/spend")
    dash_duo.wait_for_element("#login-form", timeout=10)  # the session is gone
    assert "/login" in dash_duo.driver.current_url


def test_an_ignored_filter_is_named_on_the_page(dash_duo: Any, app: dash.Dash) -> None:
    base = start(dash_duo, app)
    login(dash_duo, base, path="/spend?project=99999999999999999999999&tag=a%22b%3D1")
    dash_duo.wait_for_contains_text("#shell-filter-problems", "ignored", timeout=10)
    text = dash_duo.find_element("#shell-filter-problems").text
    assert "project '99999999999999999999999'" in text and "tag" in text
