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

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select

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
        ),
        "reliability": lambda: (
            qa.reliability(engine, month, "day"),
            qa.error_budget_by_project(engine, month, now),
            qa.errors_breakdown(engine, month),
        ),
        "latency": lambda: (
            qa.latency_over_time(engine, month, "day"),
            qa.latency_over_time(engine, day, "hour"),
        ),
    } | _detail_pages(engine, month, some_id)


def _detail_pages(engine: Engine, month: qa.Filters, some_id: str) -> dict[str, Page]:
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
        "detail": lambda: qa.request_detail(engine, some_id),
        "filter options": lambda: qa.filter_options(engine),
    }


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
    args = parser.parse_args()
    table = Table(title=f"dashboard pages, last 30 days, {args.repeat} repeats (ms)")
    for column in ("database", "requests", "page", "p50", "p95", "max", "≤200 ms"):
        table.add_column(column, justify="right" if column not in ("database", "page") else "left")
    for url in args.url:
        engine = make_engine(url)
        with engine.connect() as conn:
            rows = conn.scalar(select(func.count()).select_from(Request.__table__)) or 0
        for name, page in _pages(engine).items():
            samples = _time(page, args.repeat)
            p50, p95 = statistics.median(samples), _p95(samples)
            table.add_row(engine.dialect.name, f"{rows:,}", name, f"{p50:.1f}", f"{p95:.1f}",
                          f"{max(samples):.1f}", "yes" if p95 <= 200 else "NO")  # fmt: skip
        engine.dispose()
    Console().print(table)


if __name__ == "__main__":
    main()
