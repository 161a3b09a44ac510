"""Time every dashboard page's query set against a seeded database (see bench/seed.py).

Run: .venv/bin/python bench/bench_queries.py --url sqlite:///bench.db [--url postgresql://…]
     [--repeat 20]
Each page runs the query-layer calls its callbacks make, over the last 30 days up to
14:30 of the seed's last day; the table shows p50 / p95 / max wall-clock ms per page over
the repeats, after one warm-up round. The target is p95 <= 200 ms per page.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, event, func, select

from collector import analytics as qa
from collector.db import make_engine
from collector.db.models import Request, hourly_rollups

Page = Callable[[], object]


def _pages(engine: Engine) -> dict[str, Page]:
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
        "overview": lambda: (
            qa.overview(engine, month, now),
            qa.spend_over_time(engine, month, "model", "day"),
            qa.error_budget_by_project(engine, month, now),
            qa.budget_status(engine, now),
        ),
        "spend": lambda: (
            qa.spend_over_time(engine, month, "project", "day"),
            qa.top_spenders(engine, month, "user", 10),
            qa.top_spenders(engine, month, "key", 10),
            qa.spend_over_time(engine, month, "tag", "day"),
            qa.savings(engine, month, "day"),
        ),
        "spend: savings only": lambda: qa.savings(engine, month, "day"),
        "spend: savings only, 7 days (default range)": lambda: qa.savings(engine, week, "day"),
        "reliability": lambda: (
            qa.reliability(engine, month, "day"),
            qa.error_budget_by_project(engine, month, now),
            qa.errors_breakdown(engine, month),
        ),
        "budgets & alerts": lambda: (
            qa.budget_status(engine, now),
            qa.alert_history(engine, page=1, page_size=15),
        ),
        "latency": lambda: (
            qa.latency_over_time(engine, month, "day"),
            qa.latency_over_time(engine, day, "hour"),
        ),
    } | _detail_pages(engine, month, day, some_id)


def _detail_pages(
    engine: Engine, month: qa.Filters, day: qa.Filters, some_id: str
) -> dict[str, Page]:
    return {
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", action="append", help="time only pages whose name has this")
    args = parser.parse_args()
    console = Console(width=140)
    table = Table(title=f"dashboard pages, last 30 days, {args.repeat} repeats (ms)")
    for column in ("database", "requests", "page", "p50", "p95", "max", "≤200 ms"):
        table.add_column(column, justify="right" if column not in ("database", "page") else "left")
    for url in args.url:
        engine = make_engine(url)
        with engine.connect() as conn:
            rows = conn.scalar(select(func.count()).select_from(Request.__table__)) or 0
        _plans(engine, console)
        for name, page in _pages(engine).items():
            if args.only and not any(o in name for o in args.only):
                continue
            samples = _time(page, args.repeat)
            p50, p95 = statistics.median(samples), _p95(samples)
            table.add_row(engine.dialect.name, f"{rows:,}", name, f"{p50:.1f}", f"{p95:.1f}",
                          f"{max(samples):.1f}", "yes" if p95 <= 200 else "NO")  # fmt: skip
        engine.dispose()
    console.print(table)


if __name__ == "__main__":
    main()
