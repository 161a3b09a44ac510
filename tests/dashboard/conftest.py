"""Dashboard fixtures: a seeded SQLite database, an app pinned to the seed's clock, and Chrome.

The browser runs headless Chromium as root, so it needs ``--no-sandbox`` and friends
(``pytest_setup_options`` is the dash[testing] hook for Chrome options). One Chromium serves
every browser test of a test process (``dash_duo`` below, ``tests/dashboard/chrome.py``).
"""

from __future__ import annotations

import copy
import functools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dash
import pytest
from dash.testing.application_runners import ThreadedRunner
from dash.testing.browser import Browser
from dash.testing.composite import DashComposite
from selenium.webdriver.chrome.options import Options
from sqlalchemy import Engine

from collector.db import make_engine
from collector.settings import Settings
from dashboard import create_dash_app
from dashboard.passwords import hash_password
from tests.dashboard.chrome import SharedChrome, SharedDashComposite
from tests.dashboard.seed import GATEWAY_KEY_ID, NOW, Seeded, seed
from tests.support.templates import migrate

ADMIN = ("alice", "correct horse battery staple")
VIEWER = ("victor", "viewer-password-1")
SECRET = "test-secret-key-that-is-long-enough-0123456789"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def pytest_setup_options() -> Options:
    options = Options()
    if Path("/usr/bin/chromium").exists():
        options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--window-size=1440,1000",
    ):
        options.add_argument(arg)
    return options


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests skip, saying why, when Chromium or chromedriver is missing."""
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if not missing:
        return
    reason = f"{' and '.join(missing)} not on PATH (apt-get install chromium chromium-driver)"
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def _seeded_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Seeded]:
    """The seed written once per test process (it is deterministic: fixed clock and random
    seeds), into a file each test gets a copy of."""
    path = tmp_path_factory.mktemp("dashboard-seed") / "dashboard.db"
    url = f"sqlite:///{path}"
    migrate(url)
    engine = make_engine(url)
    try:
        seeded = seed(engine)
    finally:
        engine.dispose()  # closed: the write-ahead log is folded into the file
    return path, seeded


@pytest.fixture
def seeded(
    tmp_path: Path, _seeded_template: tuple[Path, Seeded]
) -> Iterator[tuple[Engine, Seeded]]:
    """A migrated SQLite file with a week of traffic written through ``write_batch`` (a copy
    of the process's seeded file; the ids and events are a copy of what the seed returned)."""
    template, seeded = _seeded_template
    path = tmp_path / "dashboard.db"
    shutil.copyfile(template, path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        yield engine, copy.deepcopy(seeded)
    finally:
        engine.dispose()


@functools.cache
def _users() -> str:
    """The two logins, hashed once per process (each scrypt hash costs ~0.1 s of CPU)."""
    return ",".join(
        [
            f"{ADMIN[0]}:admin:{hash_password(ADMIN[1])}",
            f"{VIEWER[0]}:viewer:{hash_password(VIEWER[1])}",
        ]
    )


def login_settings(**overrides: Any) -> Settings:
    users = _users()
    values: dict[str, Any] = {
        "dashboard_users": users,
        "dashboard_secret_key": SECRET,
        "openai_key_ids": {"default": GATEWAY_KEY_ID},  # the seed's bill (Reconciliation)
    }
    return Settings(**{**values, **overrides})


@pytest.fixture
def app(seeded: tuple[Engine, Seeded]) -> dash.Dash:
    """The dashboard over the seeded database, with "now" pinned to the seed's NOW."""
    return create_dash_app(login_settings(), seeded[0], clock=lambda: NOW)


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(autouse=True)
def _chromedriver_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Selenium finds Debian's chromedriver in /usr/bin even under a minimal PATH."""
    path = os.environ.get("PATH", "")
    if "/usr/bin" not in path.split(os.pathsep):
        monkeypatch.setenv("PATH", f"{path}{os.pathsep}/usr/bin")


@pytest.fixture(scope="session")
def shared_chrome(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedChrome]:
    """The test process's Chromium, started by the first browser test that asks for it (with
    dash's options and ``pytest_setup_options``), quit when the session ends."""
    config = request.config

    def launch() -> Any:
        browser = Browser(
            browser="Chrome",
            headless=config.getoption("headless"),
            options=config.hook.pytest_setup_options(),
            download_path=str(tmp_path_factory.mktemp("chrome-downloads")),
            percy_run=False,
        )
        return browser.driver

    chrome = SharedChrome(launch)
    yield chrome
    chrome.discard()


@pytest.fixture
def dash_duo(
    request: pytest.FixtureRequest,
    dash_thread_server: ThreadedRunner,
    tmp_path: Path,
    shared_chrome: SharedChrome,
) -> Iterator[DashComposite]:
    """dash[testing]'s ``dash_duo`` (same interface: a server runner and a browser in one),
    over the process's shared Chromium instead of a new one per test: a start costs ~1.2 s
    of CPU, and a fresh profile compiles plotly.js again. Before the test the browser is put
    back as a new one would be (``SharedChrome.prepare``: one fresh tab, first window size,
    no cookies or storage, downloads into this test's folder, an empty console log); after
    it, it leaves the page while the app still serves. Firefox and a Selenium grid
    (``--webdriver``, ``--remote``) get dash's browser per test."""
    config = request.config
    download = tmp_path / "download"
    download.mkdir()
    kwargs: dict[str, Any] = {
        "browser": config.getoption("webdriver"),
        "remote": config.getoption("remote"),
        "remote_url": config.getoption("remote_url"),
        "headless": config.getoption("headless"),
        "options": config.hook.pytest_setup_options(),
        "download_path": str(download),
        "percy_assets_root": config.getoption("percy_assets"),
        "percy_finalize": config.getoption("nopercyfinalize"),
        "pause": config.getoption("pause"),
    }
    if kwargs["browser"] != "Chrome" or kwargs["remote"]:
        with DashComposite(server=dash_thread_server, **kwargs) as composite:  # type: ignore[no-untyped-call]
            yield composite
        return
    driver = shared_chrome.prepare(str(download))
    with SharedDashComposite(dash_thread_server, driver, **kwargs) as composite:
        try:
            yield composite
        finally:
            shared_chrome.release([dash_thread_server.url] if dash_thread_server.started else [])
