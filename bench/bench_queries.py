"""Time every dashboard page's query set against a seeded database (see bench/seed.py).

Run: .venv/bin/python bench/bench_queries.py --url sqlite:///bench.db [--url postgresql://…]
     [--repeat 20] [--only NAME] [--variant before=/path/to/older/tree [--variant-url URL]…]
Each page runs the query-layer calls its callbacks make, over the last 30 days up to
14:30 of the seed's last day; the table shows p50 / p95 wall-clock ms per page over the
repeats, after one warm-up round. The target is p95 <= 200 ms per page. Each source tree
(this one, and each ``--variant``, e.g. an older commit unpacked with ``git archive``)
runs in its own process; pages are timed tree after tree, page by page, so load from
elsewhere hits both sides alike. ``--variant-url`` (one per ``--url``) points the variants
at another database, e.g. the unmigrated original of a migrated copy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, event, func, select

from collector import analytics as qa
from collector.db import make_engine
from collector.db.models import Request, hourly_rollups

Page = Callable[[], object]


def _pages(engine: Engine) -> dict[str, Page]:
    """Each page's callbacks' query-layer calls, as the dashboard makes them (default view)."""
    with engine.connect() as conn:
        last = conn.scalar(select(func.max(hourly_rollups.c.hour)))
        some_id = conn.scalar(select(Request.id).order_by(Request.started_at.desc()).limit(1))
    assert last is not None and some_id is not None, "seed the database first"
    # mid-afternoon of the last seeded day: ranges then have partial days at both ends,
    # read from the hourly rollups, around whole days read from the daily copies
    now = last - timedelta(hours=9, minutes=30)
    month = qa.Filters.last(30, now)
    day = qa.Filters.last(1, now)
    week = qa.Filters.last(7, now)
    return {
        "overview": lambda: (  # cards (+ budgets), spend by model, p95 latency by model
            qa.overview(engine, month, now),
            qa.budget_status(engine, now),
            qa.spend_over_time(engine, month, "model", "day"),
            qa.latency_over_time(engine, month, "day"),
        ),
        "spend": lambda: (  # over time and top 25 by model (with the total), savings, budgets
            qa.spend_over_time(engine, month, "model", "day"),
            qa.top_spenders(engine, month, "model", 25),
            qa.overview(engine, month, now),
            qa.savings(engine, month, "day"),
            qa.budget_status(engine, now),
        ),
        "spend by tag (over time, top 25)": lambda: (
            qa.spend_over_time(engine, month, "tag", "day"),
            qa.top_spenders(engine, month, "tag", 25),
        ),
        "spend: savings only": lambda: qa.savings(engine, month, "day"),
        "spend: savings only, 7 days (default range)": lambda: qa.savings(engine, week, "day"),
        "reliability": lambda: (
            qa.error_budget_by_project(engine, month, now),
            qa.reliability(engine, month, "day"),
            qa.errors_breakdown(engine, month),
        ),
        "budgets & alerts": lambda: (
            qa.filter_options(engine),
            qa.budget_status(engine, now),
            qa.alert_history(engine, page=1, page_size=15),
        ),
        "latency": lambda: qa.latency_over_time(engine, month, "day"),
        "latency, 1 day by hour": lambda: qa.latency_over_time(engine, day, "hour"),
    } | _detail_pages(engine, month, day, some_id)


def _detail_pages(
    engine: Engine, month: qa.Filters, day: qa.Filters, some_id: str
) -> dict[str, Page]:
    return (
        {
            "requests p1": lambda: qa.requests_page(engine, month, page=1, page_size=50),
            "requests p500": lambda: qa.requests_page(engine, month, page=500, page_size=50),
            "requests p1 (project, errors)": lambda: qa.requests_page(
                engine,
                qa.Filters(month.start, month.end, project_ids=(2,)),
                page=1,
                page_size=50,
                outcome="upstream_error",
            ),
            "requests p1 by cost": lambda: qa.requests_page(
                engine, month, page=1, page_size=50, sort_by="cost_usd"
            ),
            "requests p1 by duration (1 day)": lambda: qa.requests_page(
                engine, day, page=1, page_size=50, sort_by="duration_ms"
            ),
            "detail": lambda: qa.request_detail(engine, some_id),
            "filter options": lambda: qa.filter_options(engine),
        }
        | _deep_pages(engine, month, some_id)
        | _reconciliation_pages(engine, month)
    )


def _deep_pages(engine: Engine, month: qa.Filters, some_id: str) -> dict[str, Page]:
    """The requests table at any depth: typed page numbers (by time: placed through the
    rollups' hourly counts), cursor (keyset) steps, the indexed search (an error text, a
    request id; its count capped as the dashboard asks), over 30 days."""
    total = qa.requests_page(engine, month, page=1, page_size=1)[1]
    last_page = max(1, -(-total // 50))
    middle = qa.Cursor(month.start + (month.end - month.start) / 2, "")
    errors = qa.Filters(month.start, month.end, project_ids=(2,))

    def seek(**kw: Any) -> object:
        return qa.requests_seek(engine, month, page_size=50, **kw)

    def typed(page: int, f: qa.Filters = month, **kw: Any) -> object:
        return qa.requests_page(engine, f, page=page, page_size=50, **kw)

    return {
        f"requests page number typed: middle (p{last_page // 2:,})": lambda: typed(last_page // 2),
        f"requests page number typed: a quarter in (p{last_page // 4:,})": lambda: typed(
            last_page // 4
        ),
        f"requests page number typed: last (p{last_page:,})": lambda: typed(last_page),
        "requests page number typed: p2,000, project 2's upstream errors": lambda: typed(
            2000, errors, outcome="upstream_error"
        ),
        "requests page number typed: p200 by cost": lambda: typed(200, sort_by="cost_usd"),
        "requests first page (cursor)": lambda: seek(),
        "requests middle page (cursor, next)": lambda: seek(direction="next", cursor=middle),
        "requests middle page (cursor, previous)": lambda: seek(direction="prev", cursor=middle),
        "requests last page (cursor)": lambda: seek(direction="last"),
        'requests search "timeout" (first page + exact count)': lambda: seek(search="timeout"),
        'requests search "timeout" (first page + count up to 10,000)': lambda: seek(
            search="timeout", count_cap=10_000
        ),
        'requests search "timeout", oldest first (count up to 10,000)': lambda: seek(
            search="timeout", descending=False, count_cap=10_000
        ),
        "requests search a request id": lambda: seek(search=some_id),
    }


def _reconciliation_pages(engine: Engine, month: qa.Filters) -> dict[str, Page]:
    """The Reconciliation page (metered side from the daily rollups), and the one grouping
    that reads ``requests``: by OpenAI key with two upstream keys."""
    from collector.reconcile import GroupBy, Ownership

    def days(f: qa.Filters) -> tuple[Any, Any]:
        return f.start.date(), (f.end - timedelta(microseconds=1)).date()

    two = Ownership({"default": "key_a", "azure": "key_b"})
    week = qa.Filters(month.end - timedelta(days=7), month.end)
    return {
        "reconciliation (7 days, default range)": lambda: qa.reconciliation(
            engine, *days(week), Ownership({"default": "key_a"})
        ),
        "reconciliation (30 days)": lambda: qa.reconciliation(
            engine, *days(month), Ownership({"default": "key_a"})
        ),
        "reconciliation by key, 2 upstreams (30 days)": lambda: qa.reconciliation(
            engine, *days(month), two, GroupBy.API_KEY
        ),
    }


_TABLES = (
    "daily_error_rollups", "hourly_error_rollups", "daily_tier_rollups", "hourly_tier_rollups",
    "requests",
)  # fmt: skip


def _plans(engine: Engine, console: Console) -> None:
    """Show which tables the savings and the error breakdown read (rollups; raw at the edges)."""
    with engine.connect() as conn:
        last = conn.scalar(select(func.max(hourly_rollups.c.hour)))
    month = qa.Filters.last(30, last - timedelta(hours=9, minutes=30))
    seen: list[str] = []

    def _log(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    console.print(f"[bold]{engine.dialect.name}[/]: statements by table read, 30 days:")
    for name, call in (
        ("savings", lambda: qa.savings(engine, month, "day")),
        ("errors breakdown", lambda: qa.errors_breakdown(engine, month)),
    ):
        seen.clear()
        event.listen(engine, "before_cursor_execute", _log)
        try:
            call()
        finally:
            event.remove(engine, "before_cursor_execute", _log)
        tables = {t: n for t in _TABLES if (n := sum(f"FROM {t} " in s + " " for s in seen))}
        console.print(f"    {name}: {tables}")


def _time(page: Page, repeat: int) -> list[float]:
    page()  # warm-up: connection pool, SQLite page cache, statement caches
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        page()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def _serve(url: str) -> None:
    """Worker: list the pages, then time each page asked for on stdin ("name<TAB>repeat")."""
    assert qa.__file__ and os.environ.get("BENCH_TREE", "") in qa.__file__, qa.__file__
    engine = make_engine(url)
    pages = _pages(engine)
    print(json.dumps(list(pages)), flush=True)
    for line in sys.stdin:
        name, repeat = line.rstrip("\n").split("\t")
        print(json.dumps(_time(pages[name], int(repeat))), flush=True)


class _Worker:
    """One source tree's query layer on one database, in its own process."""

    def __init__(self, tree: Path, url: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(tree), "BENCH_TREE": str(tree)}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        self.pages: list[str] = self._read()

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        return json.loads(self.proc.stdout.readline())

    def time(self, name: str, repeat: int) -> list[float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{name}\t{repeat}\n")
        self.proc.stdin.flush()
        return list(self._read())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def _variant(spec: str) -> tuple[str, Path]:
    name, _, tree = spec.partition("=")
    if not tree or not (Path(tree) / "collector").is_dir():
        raise SystemExit(f"--variant {spec!r}: expected NAME=TREE, a source tree with collector/")
    return name, Path(tree).resolve()


def _compare(args: argparse.Namespace, console: Console) -> Table:
    """Every page on every tree, interleaved page by page (each tree's order alternates)."""
    this = ("this", Path(__file__).resolve().parents[1])
    runners = [this, *(_variant(v) for v in args.variant)]
    other_urls = args.variant_url or args.url
    if len(other_urls) != len(args.url):
        raise SystemExit("give one --variant-url per --url")
    table = Table(title=f"dashboard pages, last 30 days, {args.repeat} repeats (ms)")
    table.add_column("database")
    table.add_column("page")
    for name, _tree in runners:
        for stat in ("p50", "p95"):
            table.add_column(f"{name} {stat}" if len(runners) > 1 else stat, justify="right")
    table.add_column("≤200 ms")
    for url, other in zip(args.url, other_urls, strict=True):
        engine = make_engine(url)
        _plans(engine, console)
        dialect = engine.dialect.name
        engine.dispose()
        workers = [_Worker(tree, url if i == 0 else other) for i, (_, tree) in enumerate(runners)]
        try:
            for n, page in enumerate(workers[0].pages):
                if args.only and not any(o in page for o in args.only):
                    continue
                order = workers if n % 2 == 0 else workers[::-1]
                samples = {id(w): w.time(page, args.repeat) for w in order}
                cells = [
                    f"{f(samples[id(w)]):.1f}" for w in workers for f in (statistics.median, _p95)
                ]
                ok = _p95(samples[id(workers[0])]) <= 200
                table.add_row(dialect, page, *cells, "yes" if ok else "NO")
        finally:
            for w in workers:
                w.close()
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", action="append", help="time only pages whose name has this")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=TREE",
        help="also time another source tree's query layer, page by page",
    )
    parser.add_argument(
        "--variant-url",
        action="append",
        metavar="URL",
        help="the database the variants read, one per --url (default: the same)",
    )
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()  # fmt: skip
    if args.serve:
        _serve(args.serve)
        return
    if not args.url:
        parser.error("--url is required")
    console = Console(width=160)
    for url in args.url:
        engine = make_engine(url)
        with engine.connect() as conn:
            rows = conn.scalar(select(func.count()).select_from(Request.__table__)) or 0
        console.print(f"{engine.dialect.name}: {rows:,} requests")
        engine.dispose()
    console.print(_compare(args, console))


if __name__ == "__main__":
    main()
