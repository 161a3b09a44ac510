"""The writer process's SQLite page cache: throughput and the child's peak RSS by cache size.

Run: .venv/bin/python bench/bench_writer_cache.py --db /path/seeded.db [--cache-mib 2,8,64]
        [--events 50000] [--batch 1000] [--rounds 3] [--copy]
Writes fresh events, as live traffic (ids and times after everything stored), through a
``WriterProcess`` (the gateway's writer: pipe, child, ``write_events``) into ``--db`` —
a large seeded database (``seed.py``), where the indexes are far bigger than any cache —
one child per cell with ``cache_kib`` set, cells interleaved by round (the machine is shared:
compare within one run). ``--copy`` writes into a copy (the original stays as seeded).
Prints a table; never a test.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_recorder import make_events  # a sibling module, not a package

from collector.db import make_engine
from collector.recorder import WriterProcess


def _child_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _latest(url: str) -> datetime:
    engine = make_engine(url)
    with engine.connect() as conn:
        latest = conn.execute(text("SELECT max(started_at) FROM requests")).scalar()
    engine.dispose()
    if latest is None:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(latest) if isinstance(latest, str) else latest
    return moment.replace(tzinfo=UTC)


def cell(url: str, cache_mib: int, events: int, batch: int, seed: int) -> tuple[float, float]:
    """(events/s, the child's peak RSS in MB) for one fresh child."""
    rng = random.Random(seed)
    stream = make_events(events, rng)
    shift = _latest(url) - stream[0].started_at
    for e in stream:  # after everything stored, as live traffic is
        e.started_at += shift
        for a in e.attempts:
            a.started_at += shift
    writer = WriterProcess(url, cache_kib=cache_mib * 1024)
    writer.start()
    try:
        assert writer.pid is not None
        started = time.perf_counter()
        for i in range(0, events, batch):
            writer.write(stream[i : i + batch])
        rate = events / (time.perf_counter() - started)
        return rate, _child_peak_mb(writer.pid)
    finally:
        writer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, type=Path, help="a seeded SQLite database")
    parser.add_argument("--cache-mib", default="2,8,64")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--copy", action="store_true", help="write into a copy of --db")
    args = parser.parse_args()
    if not args.db.is_file():
        parser.error(f"--db {args.db}: no such file")
    try:
        sizes = [int(x) for x in args.cache_mib.split(",")]
    except ValueError:
        parser.error(f"--cache-mib {args.cache_mib!r}: a comma-separated list of MiB")
    db = args.db
    if args.copy:
        db = Path(tempfile.mkdtemp(prefix="writer-cache-")) / args.db.name
        shutil.copyfile(args.db, db)
    url = f"sqlite:///{db}"
    results: dict[int, list[tuple[float, float]]] = {size: [] for size in sizes}
    for r in range(args.rounds):
        for size in sizes if r % 2 == 0 else reversed(sizes):
            results[size].append(cell(url, size, args.events, args.batch, seed=r * 100 + size))
            print(f"round {r + 1} cache {size} MiB: {results[size][-1][0]:,.0f} ev/s", flush=True)
    table = Table(title=f"writer process into {args.db.name} ({args.events:,} events a cell, "
                        f"batch {args.batch:,}, {args.rounds} rounds)")  # fmt: skip
    for column in ("cache MiB", "ev/s best", "ev/s median", "child peak RSS MB (max)"):
        table.add_column(column, justify="right")
    for size, cells in results.items():
        rates = [c[0] for c in cells]
        table.add_row(str(size), f"{max(rates):,.0f}", f"{statistics.median(rates):,.0f}",
                      f"{max(c[1] for c in cells):.1f}")  # fmt: skip
    Console().print(table)
    if args.copy:
        shutil.rmtree(db.parent)


if __name__ == "__main__":
    main()
