"""What a background stream's first event waits for: registering its response in ``batch_jobs``
(one committed INSERT, ``collector.batches.register_response``) before the event is relayed.

Run: .venv/bin/python bench/bench_background.py [--n N] [--pg URL]
SQLite is a fresh WAL file; with ``--pg`` (a server URL) a database of its own is created for
the run and dropped after it. Prints p50 / p90 / max per backend, after 20 warm-up inserts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from collector.batches import register_response
from collector.db import make_engine, upgrade_head

WARM = 20


@contextmanager
def _pg_database(server_url: str) -> Iterator[str]:
    """A database made for this run on ``server_url``'s server, dropped afterwards."""
    name = f"bench_background_{os.getpid()}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _inserts(url: str, n: int) -> list[float]:
    """Milliseconds per registration, warm-up dropped."""
    upgrade_head(url)
    engine = make_engine(url)
    times: list[float] = []
    try:
        for i in range(n + WARM):
            wire = {"id": f"resp_bench_{i}", "status": "in_progress", "model": "gpt-4o-mini"}
            start = time.perf_counter()
            register_response(
                engine, wire, request_id="01JBENCH", upstream="default", project_id=None,
                api_key_id=None, end_user=None, tags={}, now=datetime.now(UTC),
            )  # fmt: skip
            times.append((time.perf_counter() - start) * 1000)
    finally:
        engine.dispose()
    return times[WARM:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--pg", help="a PostgreSQL server URL (a database is made for the run)")
    args = parser.parse_args()
    rows: list[tuple[str, list[float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("SQLite (WAL)", _inserts(f"sqlite:///{Path(tmp) / 'bench.db'}", args.n)))
    if args.pg:
        with _pg_database(args.pg) as url:
            rows.append(("PostgreSQL", _inserts(url, args.n)))
    table = Table(title=f"registering a background response ({args.n} inserts, ms)")
    for column in ("database", "p50", "p90", "max"):
        table.add_column(column, justify="right" if column != "database" else "left")
    for name, times in rows:
        p90 = statistics.quantiles(times, n=10)[8]
        table.add_row(name, f"{statistics.median(times):.2f}", f"{p90:.2f}", f"{max(times):.2f}")
    Console().print(table)
    Console().print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
