"""One headless Chromium per test process, shared by the browser tests and reset between them.

A Chromium start costs ~1.2 s of CPU, and a fresh profile downloads and compiles plotly.js
and Dash's bundles again on its first page loads; dash[testing]'s ``dash_duo`` starts one per
test. ``SharedChrome`` starts one the first time a test asks for it and hands it to every
test of the process after it has put back what a test may change: all windows but a fresh tab
closed (a new tab has its own sessionStorage and history), the window's first size and
position, no cookie of any host (the dashboard's session cookie is per host, not per port),
no local storage or IndexedDB of the origins earlier tests visited, downloads into the test's
own folder, and the console log drained (a test sees its own errors only). A browser that
crashed, quit or stops answering is killed and a fresh one started in its place.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import urllib3.exceptions  # type: ignore[import-untyped]  # 1.26: no annotations
from dash.testing.composite import DashComposite
from selenium.common.exceptions import WebDriverException

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

# how long a reset or a quit may take before the browser counts as hung
STEP_TIMEOUT_S = 30.0
# what Storage.clearDataForOrigin removes of an origin (the HTTP cache, which holds the
# bundles and their compiled code across tests, is not an origin's storage)
_ORIGIN_DATA = "cookies,local_storage,indexeddb,websql,cache_storage,service_workers,file_systems"
# a browser that crashed, quit, closed its last window or whose driver is gone
_GONE = (WebDriverException, urllib3.exceptions.HTTPError, OSError, TimeoutError)


class SharedDashComposite(DashComposite):
    """dash's ``DashComposite`` over a Chromium it did not start: it quits none on exit."""

    def __init__(self, server: Any, driver: Any, **kwargs: Any) -> None:
        self._shared_driver = driver
        super().__init__(server, **kwargs)  # type: ignore[no-untyped-call]

    def get_webdriver(self) -> Any:
        return self._shared_driver

    def __exit__(self, exc_type: Any, exc_val: Any, traceback: Any) -> None:
        if self._percy_run and self._percy_finalize:
            self.percy_runner.finalize_build()


def _bounded(step: Callable[[], _T], timeout: float | None = None) -> _T:
    """``step()``, or TimeoutError when it has not returned after ``timeout`` seconds
    (``STEP_TIMEOUT_S`` by default): a WebDriver call to a hung browser waits forever, as
    selenium sets no HTTP timeout."""
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="chrome-step")
    future = pool.submit(step)
    try:
        return future.result(timeout=STEP_TIMEOUT_S if timeout is None else timeout)
    finally:
        # joined unless hung: dash's server runner ends every thread started after it
        pool.shutdown(wait=future.done())


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            found.append(int(entry))
    return found


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process under it (chromedriver and its Chromium)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(child_pids(current))
    for member in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


def origin(url: str) -> str | None:
    """``scheme://host:port`` of an http(s) URL; None for about:blank, data: and the like."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


class SharedChrome:
    """The process's Chromium, started by ``launch`` on first use (see the module docstring)."""

    def __init__(self, launch: Callable[[], Any]) -> None:
        self._launch = launch
        self._driver: Any = None
        self._rect: dict[str, int] = {}
        self._origins: set[str] = set()
        self.launches = 0  # how many browsers this process has started

    @property
    def driver(self) -> Any:
        return self._driver

    def prepare(self, download_path: str) -> Any:
        """The driver, reset for a new test that downloads into ``download_path``; a fresh
        browser when the last one crashed or hangs."""
        for attempt in range(2):
            if self._driver is None:
                self._start()
            try:
                _bounded(lambda: self._reset(download_path))
            except _GONE as exc:
                if attempt:
                    raise
                _log.warning("the shared Chromium did not reset (%r): starting a fresh one", exc)
                self.discard()
            else:
                return self._driver
        raise AssertionError("unreachable")

    def release(self, urls: Iterable[str]) -> None:
        """After a test: the origins it visited (``urls``, and every window's page) noted for
        the next reset, and its page left (it stops before its server does)."""
        self._origins.update(o for o in map(origin, urls) if o)
        if self._driver is None:
            return
        try:
            _bounded(self._leave)
        except _GONE as exc:  # the next prepare() starts a fresh browser
            _log.warning("the shared Chromium did not leave the page (%r)", exc)

    def discard(self) -> None:
        """Quit the browser (killed when the quit fails or hangs); the next test starts one."""
        driver, self._driver = self._driver, None
        if driver is None:
            return
        service = getattr(driver, "service", None)
        process = getattr(service, "process", None)
        try:
            _bounded(driver.quit, timeout=10)
        except _GONE as exc:
            _log.warning("the shared Chromium did not quit (%r): killing it", exc)
        if process is not None:
            _kill_tree(process.pid)  # nothing left when quit worked
            with contextlib.suppress(Exception):
                process.wait(timeout=5)

    def _start(self) -> None:
        self._driver = self._launch()
        self.launches += 1
        rect = self._driver.get_window_rect()
        self._rect = {key: int(rect[key]) for key in ("x", "y", "width", "height")}
        self._origins.clear()

    def _leave(self) -> None:
        driver = self._driver
        for handle in driver.window_handles:
            driver.switch_to.window(handle)
            found = origin(driver.current_url)
            if found:
                self._origins.add(found)
            driver.get("about:blank")

    def _reset(self, download_path: str) -> None:
        driver = self._driver
        old = driver.window_handles
        if not old:
            raise WebDriverException("the browser has no window left")
        driver.switch_to.window(old[0])
        driver.switch_to.new_window("tab")
        fresh = driver.current_window_handle
        for handle in old:
            driver.switch_to.window(handle)
            driver.close()
        driver.switch_to.window(fresh)
        driver.set_window_rect(**self._rect)
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        for seen in sorted(self._origins):
            driver.execute_cdp_cmd(
                "Storage.clearDataForOrigin", {"origin": seen, "storageTypes": _ORIGIN_DATA}
            )
        self._origins.clear()
        left = driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
        if left:
            raise WebDriverException(f"cookies survived the reset: {left}")
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": download_path}
        )
        driver.set_page_load_timeout(300)  # chromedriver's defaults
        driver.set_script_timeout(30)
        driver.implicitly_wait(2)  # dash's
        driver.get_log("browser")  # drained: what the last test's pages logged
