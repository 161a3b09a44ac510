"""Recorder throughput (events/s) into SQLite and PostgreSQL by batch size, with peak RSS.

Run: .venv/bin/python bench/bench_recorder.py [--events N] [--repeat R] [--pg URL]
        [--batches 1,10,100,1000,5000,20000] [--variant NAME=TREE]...
Each cell writes fresh events through ``write_batch`` (requests + attempts + hourly and daily
request and tag rollups + error rollups, in one transaction per batch), i.e. exactly what the
background recorder does per batch. 2 % of the events fail (as in ``seed.py``), so the error
rollup is written too. With ``--repeat`` each cell runs R times on a fresh database and the
best and median rates are shown (the machine is shared: compare within one run). A batch
larger than half of ``--events`` gets two batches' worth of events. ``--variant`` adds another
source tree's columns (e.g. an older commit unpacked with ``git archive``): then every cell
runs in a child process of its tree, the trees taking turns cell by cell.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from collector.db import make_engine, upgrade_head
from collector.db.checkpoint import WalCheckpointer
from collector.recorder import AttemptEvent, UsageEvent, new_request_id, write_batch

FAILURES = [("upstream_error", 502, "server_error"), ("timeout", None, "timeout"),
            ("client_error", 400, "invalid_request_error")]  # fmt: skip
MODELS = ["gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4.1-2025-04-14", "o3-2025-04-16"]


def make_events(n: int, rng: random.Random) -> list[UsageEvent]:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    events = []
    for i in range(n):
        started = t0 + timedelta(milliseconds=i)  # a live stream arrives in time order
        duration = rng.lognormvariate(5, 0.6)
        outcome, status, error = ("success", 200, None)
        if rng.random() < 0.02:
            outcome, status, error = rng.choice(FAILURES)
        event = UsageEvent(
            id=new_request_id(), started_at=started, duration_ms=duration,
            endpoint="/v1/chat/completions", outcome=outcome, cost_source="computed",
            model_requested="gpt-4o-mini", model_served=rng.choice(MODELS),
            end_user=f"user-{rng.randint(1, 50)}", tags={"team": rng.choice(["a", "b"])},
            http_status=status, error_type=error, prompt_tokens=rng.randint(10, 2000),
            completion_tokens=rng.randint(1, 500), cost_usd=Decimal("0.0001234567"),
            ttft_ms=duration / 3,
        )  # fmt: skip
        event.attempts = [AttemptEvent(1, started, duration, http_status=status, error_type=error)]
        events.append(event)
    return events


def run_cell(url: str, batch: int, n: int, wal_thread: bool = True) -> float:
    """Events/s of ``write_batch``; on SQLite with the recorder's background WAL checkpoints."""
    events = make_events(n, random.Random(batch))
    engine = make_engine(url)
    checkpointer = WalCheckpointer.for_engine(engine) if wal_thread else None
    if checkpointer is not None:
        checkpointer.start()
    started = time.perf_counter()
    for i in range(0, n, batch):
        write_batch(engine, events[i : i + batch])
    took = time.perf_counter() - started
    if checkpointer is not None:
        checkpointer.stop()
    engine.dispose()
    return n / took


def pg_schema_url(base: str) -> tuple[str, str]:
    schema = "bench_" + uuid.uuid4().hex[:8]
    with create_engine(base).begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return f"{base}?options=-csearch_path%3D{schema}", schema


def _sqlite_cell(batch: int, n: int, wal_thread: bool = True) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade_head(sqlite_url)
        return run_cell(sqlite_url, batch, n, wal_thread)


def _pg_cell(base: str, batch: int, n: int) -> float:
    pg_url, schema = pg_schema_url(base)
    try:
        upgrade_head(pg_url)
        return run_cell(pg_url, batch, n)
    finally:
        with create_engine(base).begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


_CHILD = """
import os, sys
tree, database, pg = sys.argv[1], sys.argv[2], sys.argv[5]
batch, n = int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, os.path.join(tree, "bench"))
import collector
assert collector.__file__.startswith(tree), collector.__file__
from bench_recorder import _pg_cell, _sqlite_cell
print(_sqlite_cell(batch, n) if database == "sqlite" else _pg_cell(pg, batch, n))
"""


def _tree_cell(tree: str, database: str, batch: int, n: int, pg: str) -> float:
    """One cell run by ``tree``'s own code, in a child process."""
    env = dict(os.environ, PYTHONPATH=tree)
    command = [sys.executable, "-c", _CHILD, tree, database, str(batch), str(n), pg]
    out = subprocess.run(command, capture_output=True, text=True, cwd=tree, env=env)
    if out.returncode != 0:
        raise SystemExit(f"cell of {tree} failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.split()[-1])


def _variant(text: str) -> tuple[str, str]:
    name, sep, tree = text.partition("=")
    if not sep or not name or not Path(tree, "collector").is_dir():
        raise argparse.ArgumentTypeError(f"expected NAME=TREE with TREE/collector: {text!r}")
    return name, str(Path(tree).resolve())


def _compare(args: argparse.Namespace) -> Table:
    """SQLite and PostgreSQL columns for this tree and each variant, trees taking turns."""
    trees = [("this tree", str(Path(__file__).resolve().parent.parent)), *args.variant]
    table = Table(title=f"recorder throughput, {args.events:,} events per cell (events/s)")
    table.add_column("batch size", justify="right")
    for database in ("SQLite", "PostgreSQL"):
        for name, _ in trees:
            table.add_column(f"{database}, {name}", justify="right")
    for batch in args.batches:
        n = min(args.events, 2000) if batch == 1 else max(args.events, 2 * batch)
        cells: list[str] = []
        for database in ("sqlite", "pg"):
            rates: list[list[float]] = [[] for _ in trees]
            for _ in range(args.repeat):
                for i, (_, tree) in enumerate(trees):
                    rates[i].append(_tree_cell(tree, database, batch, n, args.pg))
            cells += [_rates(r) for r in rates]
        table.add_row(str(batch), *cells)
    return table


def _rates(rates: list[float]) -> str:
    if len(rates) == 1:
        return f"{rates[0]:,.0f}"
    return f"{max(rates):,.0f} (median {statistics.median(rates):,.0f})"


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of batch sizes: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be >= 1: {text!r}")
    return sizes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell (best, median)")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--batches",
        type=_sizes,
        default=(1, 10, 100, 1000, 5000, 20000),
        help="comma-separated batch sizes (SPENDSCOPE_RECORDER_BATCH_SIZE; default 1000)",
    )
    parser.add_argument(
        "--inline-checkpoints",
        action="store_true",
        help="add a SQLite column with SQLite's own checkpoints in the writer's commits",
    )
    parser.add_argument(
        "--variant",
        type=_variant,
        action="append",
        default=[],
        help="NAME=TREE: another source tree's columns beside this one's (repeatable)",
    )
    return parser


def main() -> None:
    args = _parser().parse_args()
    if args.variant:
        Console().print(_compare(args))
        return
    table = Table(title=f"recorder throughput, {args.events:,} events per cell (events/s)")
    table.add_column("batch size", justify="right")
    table.add_column("SQLite", justify="right")
    if args.inline_checkpoints:
        table.add_column("SQLite, inline checkpoints", justify="right")
    table.add_column("PostgreSQL", justify="right")
    for batch in args.batches:
        n = min(args.events, 2000) if batch == 1 else max(args.events, 2 * batch)
        sqlite_rates, inline_rates = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine
            sqlite_rates.append(_sqlite_cell(batch, n))
            if args.inline_checkpoints:
                inline_rates.append(_sqlite_cell(batch, n, wal_thread=False))
        pg_rates = [_pg_cell(args.pg, batch, n) for _ in range(args.repeat)]
        inline = [_rates(inline_rates)] if args.inline_checkpoints else []
        table.add_row(str(batch), _rates(sqlite_rates), *inline, _rates(pg_rates))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console = Console()
    console.print(table)
    console.print(f"peak RSS of the benchmark process: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
