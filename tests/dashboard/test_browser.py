"""A real headless Chromium drives the dashboard over a database seeded through write_batch.

Run with ``pytest --headless -m browser``. Each page must render with no callback error; a
screenshot of each lands in ``artifacts/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import base64
import csv
import time
from pathlib import Path
from typing import Any

import dash
import flask
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

from dashboard import plotlyjs
from tests.dashboard.conftest import ADMIN
from tests.dashboard.layout import WIDTHS, overflowing, resize
from tests.dashboard.seed import Seeded
from tests.support.ports import free_port

pytestmark = pytest.mark.browser

# page → (path, graphs that must draw); every page's first element proves it rendered.
PAGES = {
    "overview": ("/", ["overview-spend", "overview-latency"]),
    "spend": (
        "/spend",
        ["spend-over-time", "spend-top-graph", "spend-budgets", "spend-savings-graph"],
    ),
    "reliability": (
        "/reliability",
        ["reliability-budget", "reliability-burn", "reliability-errors"],
    ),
    "latency": ("/latency", ["latency-duration", "latency-ttft", "latency-speed"]),
    "requests": ("/requests", ["requests-table"]),
    "batches": ("/batches", ["batches-table"]),
    "budgets": ("/budgets", ["budgets-burn", "alerts-history-table"]),
    "reconciliation": ("/reconciliation", ["reconciliation-days"]),
}
_TRACES = (
    "var g = document.querySelector('#{0} .js-plotly-plot');"
    " return g && g.data ? g.data.map(t => t.name) : null;"
)


def start(dash_duo: Any, app: dash.Dash) -> str:
    """Serve the app with the dev tools UI (callback errors render as .dash-fe-error) but
    production bundles, as users get them. The port is ephemeral: dash's default counts up
    from 58050 in every process, so two pytest-xdist workers would collide."""
    dash_duo.start_server(
        app,
        navigate=False,
        debug=False,
        dev_tools_ui=True,
        dev_tools_hot_reload=False,
        port=free_port(),
    )
    url: str = dash_duo.server.url
    return url.rstrip("/")


def login(dash_duo: Any, base: str, user: tuple[str, str] = ADMIN, path: str = "/") -> None:
    dash_duo.driver.get(base + path)
    dash_duo.wait_for_element("#login-form", timeout=10)
    dash_duo.find_element("#username").send_keys(user[0])
    dash_duo.find_element("#password").send_keys(user[1])
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_element("#react-entry-point", timeout=10)
    hide_devtools(dash_duo)


def hide_devtools(dash_duo: Any) -> None:
    """The dev tools pill sits over the bottom-right corner (table pager, screenshots); the
    window's scrollbar goes too, so the page is laid out at the width it is captured at."""
    dash_duo.driver.execute_script(
        "var s = document.createElement('style');"
        "s.textContent = '.dash-debug-menu__outer, .dash-debug-menu { display: none !important; }"
        " ::-webkit-scrollbar { display: none; }';"  # a full-page capture drops the scrollbar
        "document.head.appendChild(s);"
    )


def wait_rendered(dash_duo: Any, graph_ids: list[str], timeout: float = 20) -> None:
    """Every listed graph is drawn (a table: has rows), and nothing is loading."""

    def ready(driver: Any) -> bool:
        for gid in graph_ids:
            inner = "td" if gid.endswith("-table") else ".js-plotly-plot .main-svg"
            if absent(driver, f"#{gid} {inner}"):
                return False
        return absent(driver, "[data-dash-is-loading='true']")

    WebDriverWait(dash_duo.driver, timeout, poll_frequency=0.1).until(ready)


def absent(driver: Any, selector: str) -> bool:
    """Nothing matches ``selector`` now. Looked up without the implicit wait dash's driver
    sets (2 s), which every lookup that finds nothing would otherwise spend."""
    driver.implicitly_wait(0)
    try:
        return not driver.find_elements(By.CSS_SELECTOR, selector)
    finally:
        driver.implicitly_wait(2)


def assert_no_errors(dash_duo: Any) -> None:
    assert absent(dash_duo.driver, ".dash-fe-error")
    assert dash_duo.get_logs() == []


def screenshot(dash_duo: Any, directory: Path, name: str) -> Path:
    """A full-page PNG (Chrome DevTools protocol; dev tools pill hidden)."""
    driver = dash_duo.driver
    hide_devtools(dash_duo)
    time.sleep(0.3)  # let transitions (offcanvas, hover) settle before the capture
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    path = directory / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def click(dash_duo: Any, selector: str) -> None:
    """Scroll an element to the middle of the window, then click it like a person."""
    element = dash_duo.find_element(selector)
    dash_duo.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", element
    )
    WebDriverWait(dash_duo.driver, 5).until(lambda _: element.is_displayed())
    element.click()


def choose(dash_duo: Any, dropdown: str, value: str) -> None:
    """Pick one option of a multi-select dcc.Dropdown by typing it, as a person would."""
    field = dash_duo.find_element(f"{dropdown} input")
    field.send_keys(value)
    field.send_keys(Keys.ENTER)


_UNDRAWABLE = """
const known = new Set(Object.keys(Plotly.PlotSchema.get().traces));
const types = [];
for (const g of document.querySelectorAll('.js-plotly-plot')) {
  for (const t of g.data || []) types.push(t.type || 'scatter');
}
return [Plotly.version, types.filter(t => !known.has(t))];
"""


def assert_traces_drawable(dash_duo: Any) -> None:
    """Every trace on the page is of a type the served plotly.js bundle (the basic one) has."""
    version, unknown = dash_duo.driver.execute_script(_UNDRAWABLE)
    assert version == plotlyjs.VERSION
    assert unknown == []


def traces(dash_duo: Any, graph_id: str) -> list[str] | None:
    result: list[str] | None = dash_duo.driver.execute_script(_TRACES.format(graph_id))
    return result


def test_login_is_required(dash_duo: Any, app: dash.Dash) -> None:
    base = start(dash_duo, app)
    dash_duo.driver.get(base + "/spend?range=30d")
    dash_duo.wait_for_element("#login-form", timeout=10)
    assert "/login" in dash_duo.driver.current_url
    dash_duo.find_element("#username").send_keys(ADMIN[0])
    dash_duo.find_element("#password").send_keys("wrong")
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_text_to_equal("#login-error", "Wrong user name or password.")
    dash_duo.reset_log_timestamp()  # the 401 of the wrong password is expected
    dash_duo.find_element("#username").send_keys(ADMIN[0])
    dash_duo.find_element("#password").send_keys(ADMIN[1])
    dash_duo.find_element("#login-submit").click()
    wait_rendered(dash_duo, ["spend-over-time"])
    assert dash_duo.driver.current_url.endswith("/spend?range=30d")  # back where they asked
    assert ADMIN[0] in dash_duo.find_element(".ss-user").text
    assert_no_errors(dash_duo)


def test_every_page_renders_and_holds_its_layout_at_three_widths(
    dash_duo: Any, app: dash.Dash, screenshots: Path
) -> None:
    """Each page, reached by the shell's client-side navigation, renders with no callback
    error and only traces the served plotly.js draws; at a desktop's, a small laptop's and a
    phone's width, a screenshot of each and no text cut off, spilling out of its box, or off
    the window."""
    base = start(dash_duo, app)
    login(dash_duo, base)
    problems: dict[str, list[str]] = {}
    for i, width in enumerate(WIDTHS):
        resize(dash_duo.driver, width)
        for name, (path, graphs) in PAGES.items():
            click(dash_duo, f"#shell-nav-{name}")  # client-side navigation, at every width
            dash_duo.wait_for_element(f"#{graphs[0]}", timeout=10)
            wait_rendered(dash_duo, graphs)
            assert dash_duo.driver.current_url == base + path
            if i == 0:
                assert_no_errors(dash_duo)
                assert_traces_drawable(dash_duo)
            shot = screenshot(dash_duo, screenshots, f"{name}-{width}")
            assert shot.stat().st_size > 10_000
            found = overflowing(dash_duo.driver)
            if found:
                problems[f"{name} at {width} px"] = found
    assert not problems, "\n".join(f"{where}: {p}" for where, ps in problems.items() for p in ps)
    assert_no_errors(dash_duo)


def test_filter_click_changes_figures(dash_duo: Any, app: dash.Dash) -> None:
    base = start(dash_duo, app)
    login(dash_duo, base)
    wait_rendered(dash_duo, ["overview-spend"])
    before = traces(dash_duo, "overview-spend")
    assert before is not None and len(before) == 4
    requests_before = dash_duo.find_elements(".ss-stat-value")[2].text
    choose(dash_duo, "#shell-models", "gpt-4o-2024-08-06")
    WebDriverWait(dash_duo.driver, 10).until(
        lambda _: traces(dash_duo, "overview-spend") == ["gpt-4o-2024-08-06"]
    )
    assert "model=gpt-4o-2024-08-06" in dash_duo.driver.current_url
    wait_rendered(dash_duo, ["overview-spend"])
    assert dash_duo.find_elements(".ss-stat-value")[2].text != requests_before
    # The link reproduces the view: a fresh visit shows the same filter and figure.
    dash_duo.driver.get(dash_duo.driver.current_url)
    wait_rendered(dash_duo, ["overview-spend"])
    assert traces(dash_duo, "overview-spend") == ["gpt-4o-2024-08-06"]
    assert "gpt-4o-2024-08-06" in dash_duo.find_element("#shell-models").text
    assert_no_errors(dash_duo)


def _first_ids(dash_duo: Any) -> list[str]:
    """The short ids (``…`` and the last 8 characters) of the rows shown."""
    cells = dash_duo.find_elements("#requests-table td[data-dash-column='short_id']")
    return [c.text for c in cells]


def short(request_id: str) -> str:
    return "…" + request_id[-8:]


def test_requests_table_pages_and_opens_detail(
    dash_duo: Any, app: dash.Dash, seeded: tuple[Any, Seeded], screenshots: Path
) -> None:
    base = start(dash_duo, app)
    login(dash_duo, base, path="/requests")
    dash_duo.wait_for_element("#requests-table td", timeout=10)
    total = len(seeded[1].events)
    dash_duo.wait_for_text_to_equal("#requests-total", f"{total:,} matching requests")
    page_one = _first_ids(dash_duo)
    assert len(page_one) == 50
    click(dash_duo, "#requests-table button.next-page")
    WebDriverWait(dash_duo.driver, 10).until(lambda _: _first_ids(dash_duo) not in ([], page_one))
    page_two = _first_ids(dash_duo)
    assert not set(page_one) & set(page_two)
    newest_first = sorted((e for e in seeded[1].events), key=lambda e: e.started_at, reverse=True)
    assert page_two == [short(e.id) for e in newest_first[50:100]]
    click(dash_duo, "#requests-table td[data-dash-column='model']")  # the first row
    dash_duo.wait_for_element(".ss-detail .ss-fields", timeout=10)
    whole = newest_first[50].id
    dash_duo.wait_for_contains_text(".ss-detail", whole, timeout=10)  # slides in
    detail = dash_duo.find_element(".ss-detail").text
    assert whole in detail
    assert "Attempts (" in detail
    assert_no_errors(dash_duo)
    screenshot(dash_duo, screenshots, "request-detail")


def test_requests_pager_steps_to_the_end_and_back(
    dash_duo: Any, app: dash.Dash, seeded: tuple[Any, Seeded]
) -> None:
    """Last, previous and first: each step lands on the rows an offset page would show."""
    base = start(dash_duo, app)
    login(dash_duo, base, path="/requests")
    dash_duo.wait_for_element("#requests-table td", timeout=10)
    newest = [e.id for e in sorted(seeded[1].events, key=lambda e: (e.started_at, e.id))][::-1]
    last = (len(newest) - 1) // 50
    pages = [[short(i) for i in newest[n * 50 : (n + 1) * 50]] for n in range(last + 1)]
    first = _first_ids(dash_duo)
    for button, expected in (
        ("last", pages[last]),
        ("previous", pages[last - 1]),
        ("first", first),
    ):
        click(dash_duo, f"#requests-table button.{button}-page")
        WebDriverWait(dash_duo.driver, 10).until(lambda _, e=expected: _first_ids(dash_duo) == e)
    assert first == pages[0]
    assert_no_errors(dash_duo)


def test_requests_sort_by_cost_on_the_server(
    dash_duo: Any, app: dash.Dash, seeded: tuple[Any, Seeded]
) -> None:
    """A click on the Cost header re-ranks every matching request, not just the page shown."""
    base = start(dash_duo, app)
    login(dash_duo, base, path="/requests")
    dash_duo.wait_for_element("#requests-table td", timeout=10)
    priced = sorted(
        (e for e in seeded[1].events if e.cost_usd is not None), key=lambda e: (e.cost_usd, e.id)
    )
    header = "#requests-table th[data-dash-column='cost_usd'] .column-header--sort"
    # the first click puts the most expensive first, the second the cheapest
    for expected in (short(priced[-1].id), short(priced[0].id)):
        click(dash_duo, header)
        WebDriverWait(dash_duo.driver, 10).until(
            lambda _, e=expected: _first_ids(dash_duo)[:1] == [e]
        )
    click(dash_duo, "#requests-table button.next-page")
    WebDriverWait(dash_duo.driver, 10).until(
        lambda _: _first_ids(dash_duo)[:1] == [short(priced[50].id)]
    )
    assert_no_errors(dash_duo)


def downloaded(dash_duo: Any, button: str, stem: str) -> list[dict[str, str]]:
    """Click a CSV button and read the file the browser saved."""
    dash_duo.find_element(button).click()
    folder = Path(dash_duo.download_path)
    WebDriverWait(dash_duo.driver, 10).until(
        lambda _: [p for p in folder.glob("*.csv") if p.stat().st_size > 0]
    )
    (path,) = folder.glob(f"spendscope-{stem}-*.csv")
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_csv_downloads(dash_duo: Any, app: dash.Dash, seeded: tuple[Any, Seeded]) -> None:
    base = start(dash_duo, app)
    login(dash_duo, base, path="/requests?outcome=upstream_error")
    dash_duo.wait_for_element("#requests-table td", timeout=10)
    rows = downloaded(dash_duo, "#requests-csv", "requests")
    expected = {e.id for e in seeded[1].events if e.outcome == "upstream_error"}
    assert {r["id"] for r in rows} == expected
    assert all(r["outcome"] == "upstream_error" for r in rows)
    assert_no_errors(dash_duo)


_LOADS = "return performance.getEntriesByType('resource').map(e => e.name)"


def test_a_visit_paints_in_one_round_of_callbacks(dash_duo: Any, app: dash.Dash) -> None:
    """Each page's data comes with its layout (no data callback on a visit or a navigation),
    and plotly.js is loaded once."""
    asked: list[str] = []

    @app.server.before_request
    def _record() -> None:
        if flask.request.path.endswith("_dash-update-component"):
            asked.append(str((flask.request.get_json(silent=True) or {}).get("output")))

    base = start(dash_duo, app)
    login(dash_duo, base, path="/reliability?range=30d")
    wait_rendered(dash_duo, PAGES["reliability"][1])
    for name, (_path, graphs) in PAGES.items():
        dash_duo.find_element(f"#shell-nav-{name}").click()
        dash_duo.wait_for_element(f"#{graphs[0]}", timeout=10)
        wait_rendered(dash_duo, graphs)
    prefixes = (*(f"{name}-" for name in PAGES), "alerts-")
    assert [o for o in asked if any(p in o for p in prefixes)] == []
    assert any("_pages_content" in o for o in asked)  # the pages were drawn by the router
    loads = dash_duo.driver.execute_script(_LOADS)
    assert [u for u in loads if u.endswith(plotlyjs.DASH_PATH)] == [f"{base}/{plotlyjs.DASH_PATH}"]
    assert_no_errors(dash_duo)


def test_a_request_link_opens_its_detail(
    dash_duo: Any, app: dash.Dash, seeded: tuple[Any, Seeded]
) -> None:
    """``?request=`` in a link opens the detail panel with the page (drawn in its layout)."""
    wanted = seeded[1].events[0].id
    base = start(dash_duo, app)
    login(dash_duo, base, path=f"/requests?request={wanted}")
    dash_duo.wait_for_contains_text(".ss-detail", wanted, timeout=10)
    assert "Attempts (" in dash_duo.find_element(".ss-detail").text
    dash_duo.wait_for_element("#requests-table td", timeout=10)
    assert_no_errors(dash_duo)


def test_reconciliation_shows_the_planted_differences_and_downloads_them(
    dash_duo: Any, app: dash.Dash, screenshots: Path
) -> None:
    base = start(dash_duo, app)
    login(dash_duo, base, path="/reconciliation")
    dash_duo.wait_for_element("#reconciliation-differences td", timeout=10)
    wait_rendered(dash_duo, ["reconciliation-days"])
    first = dash_duo.find_element("#reconciliation-differences tbody tr:nth-child(2)").text
    assert "gpt-4o-2024-08-06" in first and "price" in first and "implied rate" in first
    assert "key_bypass" in dash_duo.find_element("#reconciliation-unmetered").text
    assert "$2.50" in dash_duo.find_element("#reconciliation-stats").text  # two days at $1.25
    screenshot(dash_duo, screenshots, "reconciliation")
    rows = downloaded(dash_duo, "#reconciliation-csv", "reconciliation")
    drift = [r for r in rows if r["kind"] == "price"]
    assert [r["group"] for r in drift] == ["gpt-4o-2024-08-06"]
    assert all(r["kind"] == "match" for r in rows if r not in drift)
    assert_no_errors(dash_duo)
