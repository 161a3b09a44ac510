"""Recording Batch API output lines: lines per CPU-second, from an output file's bytes to rows.

Run: .venv/bin/python bench/bench_batch_record.py [--lines N] [--repeat R]
Over one output file of N chat completion lines in the mock upstream's shape (2 % failed,
from ``bench_batch_ingest.output_file``), on a database migrated before the clock starts:
``price`` decodes each line into its priced event (``_batch_lines.line_event``) — the
poller's work; ``write`` stores those events with ``write_batch``, 1,000 a batch (rows,
attempts, every rollup) — the writer's work; ``record`` does both, line by line, as a line
goes from the file to its row; ``recorder`` submits each priced line to a running
``Recorder`` (journal, queue, writer thread) as the poller does, until all are written.
CPU time is the process's own (``resource.getrusage``: user + system, all threads), which a
busy shared host bends far less than wall time; the best of R runs is shown with the median.
Read the load average printed under the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch_ingest import _ctx, output_file

from collector.db import make_engine, upgrade_head
from collector.gateway._batch_lines import line_event
from collector.recorder import Recorder, RecorderConfig, UsageEvent, write_batch

BATCH = 1000


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def price(lines: list[bytes]) -> list[UsageEvent]:
    ctx = _ctx()
    call = ctx.call
    return [
        line_event(orjson.loads(line), f"output:{i}", ctx, call) for i, line in enumerate(lines)
    ]


def timed(func: Callable[[], object]) -> float:
    start = cpu_s()
    func()
    return cpu_s() - start


def run_once(lines: list[bytes], work: Path) -> dict[str, float]:
    """CPU seconds of each stage, each on its own freshly migrated SQLite file."""
    out: dict[str, float] = {}
    out["price"] = timed(lambda: price(lines))
    for stage in ("write", "record"):
        url = f"sqlite:///{work / f'{stage}.db'}"
        upgrade_head(url)
        engine = make_engine(url)
        events = price(lines) if stage == "write" else []

        def write(events: list[UsageEvent] = events, engine: object = engine) -> None:
            for i in range(0, len(events), BATCH):
                write_batch(engine, events[i : i + BATCH])  # type: ignore[arg-type]

        def record(engine: object = engine) -> None:
            for i in range(0, len(lines), BATCH):
                write_batch(engine, price_from(lines, i))  # type: ignore[arg-type]

        out[stage] = timed(write if stage == "write" else record)
        engine.dispose()
    url = f"sqlite:///{work / 'recorder.db'}"
    upgrade_head(url)
    engine = make_engine(url)
    out["recorder"] = timed(lambda: asyncio.run(through_recorder(lines, engine, work)))
    engine.dispose()
    return out


async def through_recorder(lines: list[bytes], engine: object, work: Path) -> None:
    """Each line priced and handed to a running Recorder (journal, queue, writer thread) 500
    at a time, as the poller does, until every row is written."""
    config = RecorderConfig(batch_size=BATCH)
    recorder = Recorder(engine, work / "spool", config)  # type: ignore[arg-type]
    await recorder.start()
    ctx = _ctx()
    call = ctx.call
    events = []
    for i, line in enumerate(lines):
        events.append(line_event(orjson.loads(line), f"output:{i}", ctx, call))
        if len(events) == 500:  # as the poller hands them over
            recorder.submit_many(events)
            events = []
            await asyncio.sleep(0)
    recorder.submit_many(events)
    await recorder.flush()
    await recorder.stop()
    if recorder.stats.written != len(lines):
        raise AssertionError(recorder.stats)


def price_from(lines: list[bytes], start: int) -> list[UsageEvent]:
    ctx = _ctx()
    call = ctx.call
    part = lines[start : start + BATCH]
    return [
        line_event(orjson.loads(line), f"output:{start + i}", ctx, call)
        for i, line in enumerate(part)
    ]


WHAT = {
    "price": "decode + price each line (the poller)",
    "write": "write_batch of the priced events, 1,000 a batch (the writer)",
    "record": "both, line by line: file bytes to stored rows",
    "recorder": "each priced line through a running Recorder (journal, queue, writer thread)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.lines < 1 or args.repeat < 1:
        parser.error("--lines and --repeat must be >= 1")
    lines = [line for line in output_file(args.lines, random.Random(7)).splitlines() if line]
    load_start = os.getloadavg()[0]
    runs: dict[str, list[float]] = {name: [] for name in WHAT}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            for name, seconds in run_once(lines, Path(tmp)).items():
                runs[name].append(len(lines) / seconds)
    table = Table(title=f"Recording Batch API output, {len(lines):,} lines, {args.repeat} runs")
    for column in ("stage", "what", "lines per CPU-s best", "median", "µs CPU a line"):
        table.add_column(column, justify="left" if column in ("stage", "what") else "right")
    for name, what in WHAT.items():
        best = max(runs[name])
        table.add_row(
            name, what, f"{best:,.0f}", f"{statistics.median(runs[name]):,.0f}",
            f"{1e6 / best:,.1f}",
        )  # fmt: skip
    console = Console(width=120)
    console.print(table)
    console.print(
        f"host load average (1 min): {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )


if __name__ == "__main__":
    main()
