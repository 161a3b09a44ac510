"""Recording Batch API output lines: lines per second, from an output file's bytes to rows.

Run: .venv/bin/python bench/bench_batch_record.py [--lines N] [--repeat R] [--variant V ...]
Over one output file of N chat completion lines in the mock upstream's shape (2 % failed,
from ``bench_batch_ingest.output_file``), on a database migrated before the clock starts:
``price`` decodes each line into its priced event — the poller's work; ``write`` stores those
events with ``write_batch``, 1,000 a batch (rows, attempts, every rollup) — the writer's work;
``record`` does both, a batch of lines at a time, as a line goes from the file to its row;
``recorder`` submits the priced lines to a running ``Recorder`` (journal, queue, writer
thread) 500 at a time, until all are written; ``process`` does the same with the gateway's
writer process (its default, SPENDSCOPE_RECORDER_PROCESS); ``direct`` puts them, 500 at a
time, in a ``DirectLines`` — the poller's way since the direct hand-off: batches of 1,000
straight to the writer process, the next one in the pipe while the child writes the last.
The recorder stages start their recorder (and writer process) before the clock, as a
gateway has when a job ends, and stop it after.
Two ways of pricing, run interleaved in the same repeats so they meet the same host load:
``line`` decodes and prices each line alone (``_batch_lines.line_event``), ``chunk`` a run of
lines together (``line_events``: one cost per distinct model, usage and time).
Both rates are shown: per wall-second and per CPU-second (user + system, all threads of this
process and of its writer process), which a busy shared host bends less. ``process`` and
``direct`` use two cores at once, so their wall rate may pass their CPU rate.
The best of R runs is shown with the median. Read the load average printed under the table.
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
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import orjson
import psutil
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch_ingest import _ctx, output_file

from collector.db import make_engine, upgrade_head
from collector.gateway._batch_lines import line_event, line_events
from collector.recorder import Recorder, RecorderConfig, UsageEvent, WriterProcess, write_batch
from collector.recorder.direct import DirectLines

BATCH = 1000
HAND_OVER = 500  # lines the poller prices and submits together
Pricer = Callable[[Sequence[bytes], int], list[UsageEvent]]


def cpu_s() -> float:
    """CPU seconds of this process and of its ended children (the writer process)."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def per_line(lines: Sequence[bytes], first: int) -> list[UsageEvent]:
    """Each line decoded and priced on its own."""
    ctx = _ctx()
    call = ctx.call
    return [
        line_event(orjson.loads(line), f"output:{i}", ctx, call)
        for i, line in enumerate(lines, first)
    ]


def chunked(lines: Sequence[bytes], first: int) -> list[UsageEvent]:
    """The lines priced as one run (the poller's way)."""
    ctx = _ctx()
    return line_events(lines, "output", first, ctx, ctx.call)


VARIANTS: dict[str, Pricer] = {"line": per_line, "chunk": chunked}


def timed(func: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call."""
    cpu, wall = cpu_s(), time.perf_counter()
    func()
    return cpu_s() - cpu, time.perf_counter() - wall


def in_runs(pricer: Pricer, lines: list[bytes], size: int) -> list[UsageEvent]:
    return [e for i in range(0, len(lines), size) for e in pricer(lines[i : i + size], i)]


def run_once(pricer: Pricer, lines: list[bytes], work: Path) -> dict[str, tuple[float, float]]:
    """CPU and wall seconds of each stage, each on its own freshly migrated SQLite file."""
    out = {"price": timed(lambda: in_runs(pricer, lines, HAND_OVER))}
    for stage in ("write", "record", "recorder", "process", "direct"):
        url = f"sqlite:///{work / f'{stage}.db'}"
        upgrade_head(url)
        engine = make_engine(url)
        if stage == "write":
            events = in_runs(pricer, lines, HAND_OVER)
            out[stage] = timed(partial(_write, engine, events))
        elif stage == "record":
            out[stage] = timed(partial(_record, engine, pricer, lines))
        else:
            writer = None if stage == "recorder" else WriterProcess(url)
            spool = work / f"{stage}-spool"
            run = through_recorder(pricer, lines, engine, spool, writer, direct=stage == "direct")
            out[stage] = asyncio.run(run)
        engine.dispose()
    return out


def _write(engine: Engine, events: list[UsageEvent]) -> None:
    for i in range(0, len(events), BATCH):
        write_batch(engine, events[i : i + BATCH])


def _record(engine: Engine, pricer: Pricer, lines: list[bytes]) -> None:
    for i in range(0, len(lines), BATCH):
        write_batch(engine, pricer(lines[i : i + BATCH], i))


async def through_recorder(
    pricer: Pricer,
    lines: list[bytes],
    engine: Engine,
    spool: Path,
    writer: WriterProcess | None = None,
    *,
    direct: bool = False,
) -> tuple[float, float]:
    """(CPU s, wall s) from the first hand-over until every row is written: lines priced and
    handed to a running Recorder 500 at a time (``direct``: put in a ``DirectLines``)."""
    recorder = Recorder(engine, spool, RecorderConfig(batch_size=BATCH), writer)
    await recorder.start()
    child = psutil.Process(writer.pid) if writer is not None and writer.pid else None
    cpu, wall = _cpu(child), time.perf_counter()
    sink = DirectLines(recorder) if direct else None
    for i in range(0, len(lines), HAND_OVER):
        events = pricer(lines[i : i + HAND_OVER], i)
        if sink is not None:
            await sink.put(events)
        else:
            recorder.submit_many(events)
        await asyncio.sleep(0)
    if sink is not None:
        await sink.finish()
    await recorder.flush()
    took = (_cpu(child) - cpu, time.perf_counter() - wall)
    await recorder.stop()
    if recorder.stats.written != len(lines):
        raise AssertionError(recorder.stats)
    return took


def _cpu(child: psutil.Process | None) -> float:
    """CPU seconds of this process (all threads) and of the running writer process."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    times = child.cpu_times() if child is not None else None
    return own.ru_utime + own.ru_stime + (times.user + times.system if times else 0.0)


WHAT = {
    "price": "decode + price each line (the poller)",
    "write": "write_batch of the priced events, 1,000 a batch (the writer)",
    "record": "both: file bytes to stored rows",
    "recorder": "priced lines through a running Recorder (journal, queue, writer thread)",
    "process": "the same, written by the gateway's writer process (its default)",
    "direct": "priced lines straight to the writer process, two batches in flight (the poller)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variant", choices=sorted(VARIANTS), action="append")
    args = parser.parse_args()
    if args.lines < 1 or args.repeat < 1:
        parser.error("--lines and --repeat must be >= 1")
    variants = args.variant or list(VARIANTS)
    lines = [line for line in output_file(args.lines, random.Random(7)).splitlines() if line]
    load_start = os.getloadavg()[0]
    cpu: dict[tuple[str, str], list[float]] = {}
    wall: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for variant in variants:  # interleaved: both meet the same load
            with tempfile.TemporaryDirectory() as tmp:
                for stage, (c, w) in run_once(VARIANTS[variant], lines, Path(tmp)).items():
                    cpu.setdefault((stage, variant), []).append(len(lines) / c)
                    wall.setdefault((stage, variant), []).append(len(lines) / w)
    _print(cpu, wall, len(lines), args.repeat, load_start)


def _print(
    cpu: dict[tuple[str, str], list[float]],
    wall: dict[tuple[str, str], list[float]],
    n: int, repeat: int, load_start: float,
) -> None:  # fmt: skip
    table = Table(title=f"Recording Batch API output, {n:,} lines, {repeat} runs")
    heads = ("stage", "pricing", "lines/CPU-s best", "median", "µs CPU a line",
             "lines/wall-s best", "median")  # fmt: skip
    for column in heads:
        table.add_column(column, justify="left" if column in ("stage", "pricing") else "right")
    for stage, variant in sorted(cpu, key=lambda k: (list(WHAT).index(k[0]), k[1])):
        c, w = cpu[stage, variant], wall[stage, variant]
        table.add_row(
            stage, variant, f"{max(c):,.0f}", f"{statistics.median(c):,.0f}",
            f"{1e6 / max(c):,.1f}", f"{max(w):,.0f}", f"{statistics.median(w):,.0f}",
        )  # fmt: skip
    console = Console(width=120)
    console.print(table)
    for stage, what in WHAT.items():
        console.print(f"  {stage}: {what}")
    console.print(
        f"host load average (1 min): {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )


if __name__ == "__main__":
    main()
