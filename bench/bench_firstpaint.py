"""Time the dashboard's first paint in headless Chromium against a seeded database.

Run: .venv/bin/python bench/bench_firstpaint.py --url sqlite:///bench.db [--url postgresql://…]
     [--repeat 3] [--range 30d] [--variant before=/path/to/older/tree [--variant-url URL]…]
For each database a dashboard server (waitress, 8 threads, as ``spendscope dashboard``) runs in
its own process with "now" pinned to 14:30 of the seed's last day (as bench_queries.py) and
anonymous viewer access. For each page, time from navigation start to "data drawn": every
chart of the page holds its callback's figure (traces, or an empty-state note), the cards /
table rows are in, and no component is loading — read as ``performance.now()`` in the page.
**cold**: a fresh browser profile (nothing cached) on the page's first visit since the server
started; **warm**: the median of ``--repeat`` reloads after it. The target is < 2 s.
A ``--variant NAME=TREE`` (another source tree, e.g. an older commit unpacked with
``git archive``) serves the same pages from its own server process; pages are timed tree
after tree, page by page (the order alternating), so load from elsewhere hits both alike.
``--variant-url`` (one per ``--url``) points the variants at another database, e.g. the
unmigrated original of a migrated copy.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import func, select

from collector.db import make_engine
from collector.db.models import hourly_rollups
from dashboard.pages import _spend_savings as savings
from dashboard.pages import budgets, latency, overview, reliability, requests, spend

# page → (path, charts that must hold data, other selectors that must exist)
PAGES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "overview": (
        overview.PATH,
        (overview.SPEND, overview.LATENCY),
        (f"#{overview.CARDS} .ss-stat-value",),
    ),
    "spend": (
        spend.PATH,
        (spend.OVER_TIME, spend.TOP_GRAPH, spend.BUDGETS, savings.GRAPH),
        (f"#{spend.TOP_TABLE} td",),
    ),
    "reliability": (
        reliability.PATH,
        (reliability.BUDGET, reliability.BURN, reliability.RETRY, reliability.ERRORS),
        (),
    ),
    "latency": (latency.PATH, (latency.DURATION, latency.TTFT, latency.SPEED), ()),
    "requests": (requests.PATH, (), (f"#{requests.TABLE} td",)),
    "budgets": (budgets.PATH, (budgets.BURN, budgets.BURNDOWN), ()),
}
# Returns performance.now() once the page's data is drawn, else null.
_READY = """
const [charts, selectors] = arguments;
if (document.querySelector("[data-dash-is-loading='true']")) return null;
for (const id of charts) {
  const gd = document.querySelector('#' + id + ' .js-plotly-plot');
  if (!gd || !gd.data || !gd.layout) return null;
  const notes = (gd.layout.annotations || []).length;
  if (gd.data.length === 0 && notes === 0) return null;
}
for (const s of selectors) { if (!document.querySelector(s)) return null; }
return performance.now();
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed_now(url: str) -> datetime:
    engine = make_engine(url)
    with engine.connect() as conn:
        last = conn.scalar(select(func.max(hourly_rollups.c.hour)))
    engine.dispose()
    assert last is not None, "seed the database first (bench/seed.py)"
    return last - timedelta(hours=9, minutes=30)


def serve(url: str, port: int, now: datetime) -> None:
    """The server process: the real dashboard app, its clock pinned to ``now``."""
    import waitress

    from collector.settings import Settings
    from dashboard import create_dash_app

    settings = Settings(database_url=url, dashboard_allow_anonymous=True)
    app = create_dash_app(settings, clock=lambda: now)
    waitress.serve(app.server, host="127.0.0.1", port=port, threads=8, _quiet=True)


def _start_server(url: str, now: datetime, tree: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``tree``'s dashboard (its own bench/bench_firstpaint.py) on a free port."""
    port = _free_port()
    args = ["--serve", "--url", url, "--port", str(port), "--now", now.isoformat()]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen([sys.executable, str(tree / "bench" / "bench_firstpaint.py"), *args],
                            env=env, cwd=tree)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("dashboard server did not start")


def _browser() -> webdriver.Chrome:
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1440,1000", "--disable-background-networking"):  # fmt: skip
        options.add_argument(arg)
    return webdriver.Chrome(options=options)


def _paint_ms(driver: webdriver.Chrome, url: str, page: str) -> float:
    _path, charts, selectors = PAGES[page]
    driver.get(url)
    wait = WebDriverWait(driver, 60, poll_frequency=0.02)
    ready: float = wait.until(lambda d: d.execute_script(_READY, list(charts), list(selectors)))
    return float(ready)


def _page(base: str, page: str, repeat: int, range_: str) -> tuple[float, float]:
    """(cold ms, median warm ms) of one page in a fresh browser profile."""
    target = f"{base}{PAGES[page][0]}?range={range_}"
    driver = _browser()  # a fresh profile: nothing cached
    try:
        cold = _paint_ms(driver, target, page)
        warm = [_paint_ms(driver, target, page) for _ in range(repeat)]
    finally:
        driver.quit()
    return cold, statistics.median(warm)


def measure(
    urls: list[str], trees: list[Path], repeat: int, range_: str
) -> dict[str, list[tuple[float, float]]]:
    """Per page, per tree (serving its own url): (cold ms, median warm ms)."""
    servers = [
        _start_server(url, _seed_now(url), tree) for url, tree in zip(urls, trees, strict=True)
    ]
    results: dict[str, list[tuple[float, float]]] = {}
    try:
        for n, page in enumerate(PAGES):
            order = list(range(len(servers)))
            cells: dict[int, tuple[float, float]] = {}
            for i in order if n % 2 == 0 else order[::-1]:
                cells[i] = _page(servers[i][1], page, repeat, range_)
            results[page] = [cells[i] for i in order]
    finally:
        for proc, _base in servers:
            proc.terminate()
            proc.wait(10)
    return results


def _variant(spec: str) -> tuple[str, Path]:
    name, _, tree = spec.partition("=")
    if not tree or not (Path(tree) / "bench" / "bench_firstpaint.py").is_file():
        raise SystemExit(f"--variant {spec!r}: expected NAME=TREE, a tree with bench/")
    return name, Path(tree).resolve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--range", default="30d", help="the filter bar's range preset")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=TREE")
    parser.add_argument("--variant-url", action="append", metavar="URL")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.url[0], args.port, datetime.fromisoformat(args.now).astimezone(UTC))
        return
    runners = [("this", Path(__file__).resolve().parents[1]), *map(_variant, args.variant)]
    other_urls = args.variant_url or args.url
    if len(other_urls) != len(args.url):
        raise SystemExit("give one --variant-url per --url")
    table = Table(title=f"first paint in headless Chromium, range {args.range} (ms)")
    for column in ("database", "page"):
        table.add_column(column)
    for name, _tree in runners:
        for kind in ("cold", "warm (median)"):
            table.add_column(f"{name} {kind}" if len(runners) > 1 else kind, justify="right")
    table.add_column("< 2 s", justify="right")
    for url, other in zip(args.url, other_urls, strict=True):
        dialect = make_engine(url).dialect.name
        urls = [url, *([other] * (len(runners) - 1))]
        results = measure(urls, [tree for _, tree in runners], args.repeat, args.range)
        for page, cells in results.items():
            ok = "yes" if max(cells[0]) < 2000 else "NO"
            shown = [f"{v:,.0f}" for cell in cells for v in cell]
            table.add_row(dialect, page, *shown, ok)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
