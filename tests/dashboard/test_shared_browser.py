"""The Chromium the browser tests share (``tests/dashboard/chrome.py``): whatever one test
leaves in it, the next gets it as a new browser would be, and a crashed one is replaced."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import dash
import pytest
from selenium.webdriver.support.wait import WebDriverWait

from tests.dashboard.chrome import SharedChrome, child_pids
from tests.dashboard.test_browser import login, start

pytestmark = pytest.mark.browser

_DOWNLOAD = """
const a = document.createElement('a');
a.href = URL.createObjectURL(new Blob(['saved'], {type: 'text/plain'}));
a.download = 'probe.txt';
document.body.appendChild(a);
a.click();
"""


def _saved(driver: Any, folder: Path) -> bytes:
    """The bytes of a file the page saves as a download, read from ``folder``."""
    driver.execute_script(_DOWNLOAD)
    path = folder / "probe.txt"
    WebDriverWait(driver, 10).until(lambda _: path.exists() and path.stat().st_size > 0)
    return path.read_bytes()


def test_the_next_test_gets_a_clean_browser(
    dash_duo: Any, app: dash.Dash, shared_chrome: SharedChrome, tmp_path: Path
) -> None:
    """Signed in, with storage, a second tab, a phone-sized window and a console error:
    after the reset none of it is there, in the same browser, and downloads go to the new
    test's folder."""
    driver = dash_duo.driver
    first = driver.get_window_rect()
    launches = shared_chrome.launches
    base = start(dash_duo, app)
    login(dash_duo, base)
    driver.execute_script(
        "localStorage.setItem('left', 'over'); sessionStorage.setItem('left', 'over');"
        " console.error('left over'); window.open(location.href, 'second');"
    )
    WebDriverWait(driver, 5).until(lambda _: len(driver.window_handles) == 2)
    driver.set_window_size(390, 700)
    # and a cookie of a host no test served from (only "every host's cookies" clears it)
    driver.execute_cdp_cmd(
        "Network.setCookie", {"name": "left", "value": "over", "domain": "elsewhere.test"}
    )
    assert len(driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]) == 2

    shared_chrome.release([base])
    later = tmp_path / "later-download"
    later.mkdir()
    assert shared_chrome.prepare(str(later)) is driver
    assert shared_chrome.launches == launches
    assert len(driver.window_handles) == 1
    assert driver.get_window_rect() == first
    assert driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"] == []
    assert driver.get_log("browser") == []
    driver.get(base + "/spend")
    dash_duo.wait_for_element("#login-form", timeout=10)  # the session is gone
    assert "/login" in driver.current_url
    storage = "return [localStorage.getItem('left'), sessionStorage.getItem('left')]"
    assert driver.execute_script(storage) == [None, None]
    assert _saved(driver, later) == b"saved"


def test_a_crashed_browser_is_replaced(
    dash_duo: Any, app: dash.Dash, shared_chrome: SharedChrome, tmp_path: Path
) -> None:
    """Chromium killed under its driver: the next test gets a fresh one that works."""
    launches = shared_chrome.launches
    chromedriver = dash_duo.driver.service.process.pid
    (browser,) = child_pids(chromedriver)
    os.kill(browser, signal.SIGKILL)
    driver = shared_chrome.prepare(str(tmp_path))
    assert shared_chrome.launches == launches + 1
    assert driver is not dash_duo.driver
    assert chromedriver not in child_pids(os.getpid())  # the old driver is gone too
    base = start(dash_duo, app)
    driver.get(base + "/")
    WebDriverWait(driver, 10).until(lambda d: "/login" in d.current_url)
