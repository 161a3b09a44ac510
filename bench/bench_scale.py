"""spendscope at 50 M requests on PostgreSQL: seed, size, pages, report, recording, retention.

Run: .venv/bin/python bench/bench_scale.py [--url postgresql+psycopg://…/spendscope_scale]
        [--requests 50050000] [--phase seed,size,pages,report,record,retention] [--repeat 10]

``seed`` creates the database when it is missing and fills it when it holds fewer requests
than ``--requests``: 91 days from September 1 (``scale_seed.py``: the first day through the
recorder, the others copied server-side), partitioned by month as the migrations make it;
the timings are kept in the database (table ``bench_seeded``), so the later phases can be run
again without seeding. ``size``: bytes per request (requests and attempts with their
indexes), the rollups, the database. ``pages``: every dashboard page's queries over the last 30
days (``bench_queries.py``; p95 target 200 ms). ``report``: ``spendscope report --month`` for
October, as a user runs it (process start included; target 2 s). ``record``: four processes,
each what a gateway's writer process runs (``write_batch``, batches of ``--batch``), record
at once into the seeded database (events made before the clock starts; target 30,000
events/s in all). ``retention``: September cut with a writer recording meanwhile (target 1 s,
the recorder never held up; the time until the month's rows are gone, then the old
partition's count and drop, each timed), and September's report compared before and after.
It changes the database, so it runs last; a later ``seed`` notices the missing rows and puts
September's back (``scale_seed.restore_month``: the rollups were kept, so the database is
whole again), without seeding the rest anew.
PostgreSQL runs as installed (shared_buffers, work_mem and the rest at their defaults).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from collector.db import make_engine, partitions

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale_record  # bench/scale_record.py, a sibling module
import scale_retention
import scale_seed

HERE = Path(__file__).resolve().parent
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/spendscope_scale"
DAYS = 91
PHASES = ("seed", "size", "pages", "report", "record", "reprice", "retention")
START = datetime(2026, 9, 1, tzinfo=UTC)  # the seed's first day
FINE_TUNE = "ft:gpt-4o-mini-2024-07-18:acme::custom"  # the seed's one unpriced model
console = Console(width=160)


def _create_database(url: str, *, fresh: bool) -> None:
    """Create the database of ``url`` when it is missing (``fresh``: drop it first)."""
    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if fresh:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def _stored_seed(engine: Engine) -> dict[str, Any] | None:
    with engine.connect() as conn:
        if not conn.scalar(text("SELECT to_regclass('bench_seeded') IS NOT NULL")):
            return None
        row = conn.execute(text("SELECT facts FROM bench_seeded")).scalar_one_or_none()
        return dict(row) if row else None


def seed_phase(url: str, total: int, days: int, table: Table, month: datetime) -> None:
    _create_database(url, fresh=False)
    engine = make_engine(url)
    try:
        stored = _stored_seed(engine)
        fresh = stored is None or (stored["requests"], stored["days"]) != (total, days)
        if not fresh and scale_seed.requests_in(engine) < total:  # a retention run's month
            console.print(f"putting {month:%B}'s raw rows back (a retention run removed them)")
            began = time.perf_counter()
            back = scale_seed.restore_month(url, month)
            console.print(f"  {back:,} requests back in {time.perf_counter() - began:,.0f} s")
        if fresh or scale_seed.requests_in(engine) < total:
            engine.dispose()
            _create_database(url, fresh=True)
            console.print(f"seeding {total:,} requests over {days} days (this takes a while)")
            seeded = scale_seed.seed_database(url, total, days)
            stored = asdict(seeded)
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE bench_seeded (facts json NOT NULL)"))
                conn.execute(
                    text("INSERT INTO bench_seeded VALUES (CAST(:f AS json))"),
                    {"f": json.dumps(stored)},
                )
    finally:
        engine.dispose()
    total_s = stored["first_day_s"] + stored["copies_s"] + stored["vacuum_s"]
    table.add_row(
        "seed",
        f"{stored['requests']:,} requests over {stored['days']} days",
        f"{total_s / 60:,.1f} min (first day through the recorder {stored['first_day_s']:.0f} s, "
        f"copies {stored['copies_s'] / 60:,.1f} min, VACUUM ANALYZE {stored['vacuum_s']:.0f} s)",
        "",
        "",
    )


_SIZES = """
SELECT coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname ~ :raw), 0),
       coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname ~ :rollup), 0),
       pg_database_size(current_database())
FROM pg_class c
WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relkind = 'r'
"""


def size_phase(engine: Engine, table: Table) -> None:
    with engine.connect() as conn:
        raw, rollups, database = conn.execute(
            text(_SIZES), {"raw": "^(requests|attempts)(_|$)", "rollup": "_rollups$"}
        ).one()
        requests = int(conn.scalar(text("SELECT count(*) FROM requests")) or 0)
    per = int(raw) / requests
    table.add_row(
        "size",
        f"{requests:,} requests",
        f"requests + attempts with their indexes {per:,.0f} B/request "
        f"({per:,.0f} MB per million; 1 B requests ≈ {per * 1e9 / 1e12:,.2f} TB); "
        f"rollups {int(rollups) / 1e9:,.2f} GB (they grow with days and dimensions, not requests); "
        f"database {int(database) / 1e9:,.1f} GB",
        "",
        "",
    )


def pages_phase(url: str, repeat: int) -> None:
    """bench_queries.py's own table: every page of the dashboard at this depth."""
    command = [sys.executable, str(HERE / "bench_queries.py"), "--url", url]
    subprocess.run([*command, "--repeat", str(repeat)], check=True)


def _report(url: str, month: str) -> tuple[float, str]:
    env = {**os.environ, "SPENDSCOPE_DATABASE_URL": url}
    command = [sys.executable, "-m", "collector", "report", "--month", month, "--format", "json"]
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"spendscope report failed: {done.stderr.strip()}")
    return took, done.stdout


def report_phase(url: str, table: Table, runs: int = 5) -> None:
    _report(url, "2026-10")  # warm: the OS cache holds the rollups as a dashboard's would
    times = [_report(url, "2026-10")[0] for _ in range(runs)]
    rows = json.loads(_report(url, "2026-10")[1])["rows"]
    requests = sum(int(r["requests"]) for r in rows)
    median, worst = statistics.median(times), max(times)
    table.add_row(
        "spendscope report --month 2026-10",
        f"{requests:,} requests in the month, {runs} runs",
        f"median {median:.2f} s, max {worst:.2f} s (process start included)",
        "≤ 2 s",
        "yes" if worst <= 2 else "NO",
    )


def record_phase(url: str, table: Table, writers: int, events: int, batch: int) -> None:
    result = scale_record.run(url, writers, events, batch)
    rate = result.events / result.seconds
    table.add_row(
        f"recording, {writers} writer processes",
        f"{result.events:,} events, batches of {batch}",
        f"{rate:,.0f} events/s in all over {result.seconds:.1f} s "
        f"(each: {', '.join(f'{r:,.0f}' for r in result.rates)} events/s)",
        "≥ 30,000 events/s",
        "yes" if rate >= 30_000 else "NO",
    )


def reprice_phase(url: str, table: Table, month: datetime) -> None:
    """Price the seed's fine-tune (an override, as an operator adds one) and reprice its rows
    of ``month`` with ``spendscope prices reprice``: the month then keeps no row at retention."""
    from collector.db import session_scope
    from collector.pricing.overrides import PriceOverride, add_override

    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            add_override(session, PriceOverride(
                id="", model=FINE_TUNE, effective_from=START, effective_to=None,
                input_per_1m=Decimal("0.30"), cached_input_per_1m=Decimal("0.15"),
                output_per_1m=Decimal("1.20"), note="gpt-4o-mini fine-tuned inference",
            ))  # fmt: skip
    finally:
        engine.dispose()
    end = partitions.add_months(month, 1)
    command = [sys.executable, "-m", "collector", "prices", "reprice", "--model", FINE_TUNE,
               "--start", f"{month:%Y-%m-%d}", "--end", f"{end:%Y-%m-%d}", "--json"]  # fmt: skip
    env = {**os.environ, "SPENDSCOPE_DATABASE_URL": url}
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"spendscope prices reprice failed: {done.stderr.strip()}")
    summary = json.loads(done.stdout)
    table.add_row(
        f"spendscope prices reprice, {month:%B}",
        f"{FINE_TUNE} priced by an override",
        f"{took:.1f} s: {json.dumps(summary)[:200]}",
        "",
        "",
    )


def retention_phase(url: str, engine: Engine, table: Table, month: datetime) -> None:
    from collector.db.retention import apply_retention

    name = f"{month:%Y-%m}"
    cutoff = partitions.add_months(month, 1)
    with engine.connect() as conn:
        kept = conn.scalar(
            text(
                f"SELECT count(*) FROM {partitions.leaf('requests', month)} WHERE {partitions.KEPT}"
            )
        )
    before = _report(url, name)[1]
    stop, batches, steps = threading.Event(), list[tuple[float, float]](), dict[str, float]()
    spans = dict[str, list[tuple[float, float]]]()
    ends = dict[str, float]()
    at = cutoff + timedelta(days=14)  # the writer records after the cutoff, as live traffic
    writer = threading.Thread(target=scale_retention.writer, args=(engine, at, stop, batches))
    writer.start()
    time.sleep(1.0)
    began = time.perf_counter()
    try:
        with scale_retention.step_times(steps, ends, spans):
            result = apply_retention(engine, 1, cutoff + timedelta(days=1))
    finally:
        took = time.perf_counter() - began
        time.sleep(0.5)
        stop.set()
        writer.join()
    latencies = [(end - start) * 1000 for start, end in batches]
    gone = ends.get(scale_retention.GONE, began + took) - began
    swap = steps.get(scale_retention.SWAP, took)
    after = _report(url, name)[1]
    same = json.loads(before)["rows"] == json.loads(after)["rows"]
    table.add_row(
        f"retention: {month:%B} (cutoff {cutoff:%B} 1), {kept:,} unpriced rows kept",
        f"{result.requests_deleted:,} requests removed",
        f"rows gone in {gone:.2f} s, the pass {took:.2f} s "
        f"({', '.join(f'{k} {v:.2f} s' for k, v in steps.items())}); writer "
        f"batches of 100 meanwhile: max {max(latencies):.0f} ms, p50 "
        f"{statistics.median(latencies):.0f} ms ({scale_retention.overlapping(batches, spans)}); "
        "the month's report "
        f"{'identical' if same else 'CHANGED'} after",
        "≤ 1 s",
        f"swap: {'yes' if swap <= 1 and same else 'NO'}; whole pass: "
        f"{'yes' if took <= 1 and same else 'NO'}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--requests", type=int, default=50_050_000)
    parser.add_argument("--days", type=int, default=DAYS, help="seed: days from September 1")
    parser.add_argument("--phase", default=",".join(PHASES))
    parser.add_argument("--repeat", type=int, default=10, help="pages: timed runs per page")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--events", type=int, default=200_000, help="record: per writer")
    parser.add_argument("--batch", type=int, default=1000, help="record: events per batch")
    parser.add_argument("--month", default="2026-09", help="reprice, retention: YYYY-MM")
    args = parser.parse_args()
    phases = args.phase.split(",")
    if unknown := set(phases) - set(PHASES):
        parser.error(f"unknown phase {', '.join(sorted(unknown))}: choose from {', '.join(PHASES)}")
    if make_url(args.url).get_backend_name() != "postgresql":
        parser.error("--url must be a PostgreSQL URL (postgresql+psycopg://…)")
    try:
        month = datetime.strptime(args.month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        parser.error(f"--month {args.month!r}: expected YYYY-MM")
    table = Table(title=f"spendscope at {args.requests:,} requests (PostgreSQL)")
    for column in ("what", "size", "measured", "target", "met"):
        table.add_column(column)
    if "seed" in phases:
        seed_phase(args.url, args.requests, args.days, table, month)
    engine = make_engine(args.url)
    try:
        if "size" in phases:
            size_phase(engine, table)
        if "pages" in phases:
            pages_phase(args.url, args.repeat)
        if "report" in phases:
            report_phase(args.url, table)
        if "record" in phases:
            record_phase(args.url, table, args.writers, args.events, args.batch)
        if "reprice" in phases:
            reprice_phase(args.url, table, month)
        if "retention" in phases:
            retention_phase(args.url, engine, table, month)
    finally:
        engine.dispose()
    console.print(table)
    console.print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
