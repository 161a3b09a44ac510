"""PostgreSQL's monthly partitions: bytes per request, and retention of one month by dropping
its partition against the batched delete on plain tables, with a writer recording meanwhile.

Run: .venv/bin/python bench/bench_partitions.py [--url postgresql://…/test] [--requests 1000000]

Two fresh schemas hold the same rows: one at the newest schema (partitioned by month), one
at migration 0030 (plain tables, where retention is the batched delete). Each is seeded
with realistic rows through the recorder (``bench/seed.py``, one day of traffic) copied
server-side onto the 91 days from September 1 (new ULID ids of each row's new time, its
attempts with it; the rollups are those of the first day only). Retention then removes
September (cutoff October 1 00:00; unpriced rows stay) while a writer thread records
batches of 100 requests into November; the table shows the retention's seconds and the
writer's batch latency (max and p50) during it. On the partitioned layout, the next pass's
probe of cut September (``collector.db.month_log``: anything more to remove?) is timed
through the month's log and by reading the month. The schemas are dropped afterwards.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, create_engine, text

from collector.db import make_engine, month_cut, month_log, month_stage, partitions
from collector.db.migrate import alembic_config
from collector.db.models import daily_upstream_rollups
from collector.db.retention import apply_retention
from collector.recorder import write_batch
from collector.ulid import ALPHABET

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seed  # bench/seed.py, a sibling module

START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 91  # September to November
CUTOFF_NOW = datetime(2026, 10, 2, tzinfo=UTC)  # with 1 day kept: the cutoff is October 1
ULID_AT = f"""
CREATE FUNCTION pg_temp.ulid_at(ts timestamptz, salt text) RETURNS varchar AS $$
  SELECT string_agg(substr('{ALPHABET}',
           (((extract(epoch FROM ts) * 1000)::bigint >> (5 * (9 - i))) & 31)::int + 1, 1),
           '' ORDER BY i) || upper(substr(md5(salt), 1, 16))
  FROM generate_series(0, 9) i
$$ LANGUAGE sql IMMUTABLE
"""  # a ULID of ``ts`` in SQL: ten characters of milliseconds, then 16 hex digits of a hash


@dataclass
class Run:
    name: str
    requests: int = 0
    seed_s: float = 0.0
    bytes_per_request: float = 0.0
    retention_s: float = 0.0
    deleted: int = 0
    writer_max_ms: float = 0.0
    writer_p50_ms: float = 0.0
    writer_batches: int = 0
    swap_ms: float = 0.0  # the parents' lock held (partitioned only)
    stage_s: float = 0.0  # the kept rows copied aside, the month still in use (partitioned)
    kept: int = 0  # September's rows after its cut (partitioned)
    probe_log_ms: float = 0.0  # the next pass's probe of cut September, through its log
    probe_read_ms: float = 0.0  # the same answer by reading the month (the plain probe)


def _timed(run: Run) -> Callable[[], None]:
    """Time the two steps of a month's cut (the module's own functions, wrapped); returns
    what puts them back."""
    stage, swap = month_stage.stage_month, month_stage.swap_month

    def timed_stage(engine: Engine, month: datetime, cutoff: datetime) -> int:
        began = time.perf_counter()
        try:
            return stage(engine, month, cutoff)
        finally:
            run.stage_s += time.perf_counter() - began

    def timed_swap(conn: Any, month: datetime, cutoff: datetime) -> int:
        began = time.perf_counter()
        try:
            return swap(conn, month, cutoff)
        finally:
            run.swap_ms += (time.perf_counter() - began) * 1000

    month_stage.stage_month, month_stage.swap_month = timed_stage, timed_swap  # type: ignore[assignment]

    def restore() -> None:
        month_stage.stage_month, month_stage.swap_month = stage, swap  # type: ignore[assignment]

    return restore


def _schema_url(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


def _columns(engine: Engine, table: str) -> list[str]:
    with engine.connect() as conn:
        return [c.strip('"') for c in partitions.column_list(conn, table).split(", ")]


def _replicate(engine: Engine) -> None:
    """Copy the first day's rows onto each later day, with ids of their new time."""
    req = [c for c in _columns(engine, "requests") if c not in ("id", "started_at")]
    att = [c for c in _columns(engine, "attempts") if c not in ("request_id", "started_at")]
    with engine.begin() as conn:
        conn.execute(text(ULID_AT))
        conn.execute(
            text(
                "CREATE TEMP TABLE copies AS SELECT r.id AS old_id, k, "
                "r.started_at + make_interval(days => k) AS ts, "
                "pg_temp.ulid_at(r.started_at + make_interval(days => k), r.id || k) AS new_id "
                f"FROM requests r, generate_series(1, {DAYS - 1}) k"
            )
        )
        names = ", ".join(f'"{c}"' for c in req)
        conn.execute(
            text(
                f"INSERT INTO requests (id, started_at, {names}) SELECT m.new_id, m.ts, "
                f"{', '.join(f'r.{c}' for c in req)} FROM copies m "
                "JOIN requests r ON r.id = m.old_id"
            )
        )
        names = ", ".join(f'"{c}"' for c in att)
        conn.execute(
            text(
                f"INSERT INTO attempts (request_id, started_at, {names}) SELECT m.new_id, "
                f"a.started_at + make_interval(days => m.k), {', '.join(f'a.{c}' for c in att)} "
                "FROM copies m JOIN attempts a ON a.request_id = m.old_id"
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def _seed(engine: Engine, total: int) -> float:
    began = time.perf_counter()
    rng = random.Random(11)
    users = seed.setup_tenants(engine, rng)
    batch = []
    for event in seed.events(total // DAYS, START, 1, rng, users):
        batch.append(event)
        if len(batch) == 1000:
            write_batch(engine, batch)
            batch.clear()
    write_batch(engine, batch)
    _replicate(engine)
    return time.perf_counter() - began


def _bytes_per_request(engine: Engine) -> tuple[int, float]:
    sql = (
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
        "WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relkind = 'r' "
        "AND (c.relname IN ('requests', 'attempts') OR c.relname ~ '^(requests|attempts)_p')"
    )
    with engine.connect() as conn:
        size = int(conn.execute(text(sql)).scalar_one())
        count = int(conn.execute(text("SELECT count(*) FROM requests")).scalar_one())
    return count, size / count


def _writer(engine: Engine, stop: threading.Event, latencies: list[float]) -> None:
    rng = random.Random(5)
    users = seed.setup_tenants(engine, rng)
    at = datetime(2026, 11, 15, tzinfo=UTC)
    while not stop.is_set():
        batch = [
            seed.make_event(rng, rng.choice(users), at + timedelta(seconds=s)) for s in range(100)
        ]
        at += timedelta(seconds=100)
        began = time.perf_counter()
        write_batch(engine, batch)
        latencies.append((time.perf_counter() - began) * 1000)


def _retention(engine: Engine, run: Run) -> None:
    stop, latencies = threading.Event(), []
    writer = threading.Thread(target=_writer, args=(engine, stop, latencies))
    writer.start()
    time.sleep(1.0)  # the writer is recording before the retention starts
    restore = _timed(run)
    began = time.perf_counter()
    try:
        result = apply_retention(engine, 1, CUTOFF_NOW)
    finally:
        run.retention_s = time.perf_counter() - began
        restore()
    time.sleep(0.5)
    stop.set()
    writer.join()
    run.deleted = result.requests_deleted
    run.writer_max_ms, run.writer_batches = max(latencies), len(latencies)
    run.writer_p50_ms = statistics.median(latencies)


def _probes(engine: Engine, run: Run, rounds: int = 5) -> None:
    """The next pass's question about cut September (anything more to remove, at a cutoff a
    month later?), through the month's log and by reading it: the median of ``rounds``,
    interleaved."""
    later = partitions.add_months(START, 2)
    times: dict[str, list[float]] = {"log": [], "read": []}
    with engine.connect() as conn:
        run.kept = int(conn.execute(text("SELECT count(*) FROM requests_p202609")).scalar_one())
        probes = (("log", month_log.has_droppable), ("read", month_cut.has_droppable))
        for _ in range(rounds):
            for name, probe in probes:
                began = time.perf_counter()
                if probe(conn, START, later):
                    raise SystemExit(f"the {name} probe found rows to remove in cut September")
                times[name].append((time.perf_counter() - began) * 1000)
    run.probe_log_ms = statistics.median(times["log"])
    run.probe_read_ms = statistics.median(times["read"])


def measure(url: str, total: int, revision: str, name: str) -> Run:
    from alembic import command

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    target = _schema_url(url, schema)
    engine = make_engine(target)
    run = Run(name)
    try:
        command.upgrade(alembic_config(target), revision)
        # tables the recorder writes that came after the revision (plain tables: 0030)
        daily_upstream_rollups.create(engine, checkfirst=True)
        with engine.connect() as conn:
            partitioned = partitions.is_partitioned(conn)
        if partitioned:
            months = [partitions.add_months(START, n) for n in range(3)]
            partitions.ensure_months(engine, months)
        run.seed_s = _seed(engine, total)
        run.requests, run.bytes_per_request = _bytes_per_request(engine)
        _retention(engine, run)
        if partitioned:
            _probes(engine, run)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--requests", type=int, default=1_000_000)
    args = parser.parse_args()
    runs = [
        measure(args.url, args.requests, "head", "partitioned: drop September"),
        measure(args.url, args.requests, "0030", "plain tables: batched delete"),
    ]
    table = Table(title=f"retention of one month, {args.requests:,} requests over 91 days")
    for column in ("layout", "requests", "seed s", "bytes/request", "retention s",
                   "of which: stage s", "swap ms (locked)", "deleted",
                   "writer max ms", "writer p50 ms", "writer batches",
                   "kept", "next pass's probe ms: log / read"):  # fmt: skip
        table.add_column(column, justify="right")
    for r in runs:
        table.add_row(
            r.name, f"{r.requests:,}", f"{r.seed_s:,.0f}", f"{r.bytes_per_request:,.0f}",
            f"{r.retention_s:,.2f}", f"{r.stage_s:,.2f}", f"{r.swap_ms:,.0f}",
            f"{r.deleted:,}", f"{r.writer_max_ms:,.0f}",
            f"{r.writer_p50_ms:,.0f}", f"{r.writer_batches:,}", f"{r.kept:,}",
            f"{r.probe_log_ms:,.2f} / {r.probe_read_ms:,.1f}" if r.kept else "",
        )  # fmt: skip
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
