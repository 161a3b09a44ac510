"""Recording Batch API output lines: lines per second, from an output file's bytes to rows.

Run: .venv/bin/python bench/bench_batch_record.py [--lines N] [--repeat R] [--variant V ...]
Over one output file of N chat completion lines in the mock upstream's shape (2 % failed,
from ``bench_batch_ingest.output_file``), on a database migrated before the clock starts:
``price`` decodes each line into its priced event — the poller's work; ``write`` stores those
events with ``write_batch``, 1,000 a batch (rows, attempts, every rollup) — the writer's work;
``record`` does both, a batch of lines at a time, as a line goes from the file to its row;
``recorder`` submits the priced lines to a running ``Recorder`` (journal, queue, writer
thread) 500 at a time, as the poller does, until all are written; ``process`` does the same
with the gateway's writer process (its default, SPENDSCOPE_RECORDER_PROCESS).
Two ways of pricing, run interleaved in the same repeats so they meet the same host load:
``line`` decodes and prices each line alone (``_batch_lines.line_event``), ``chunk`` a run of
lines together (``line_events``: one cost per distinct model, usage and time).
Both rates are shown: per wall-second and per CPU-second of the process
(``resource.getrusage``: user + system, all threads, plus the ended writer process of
``process``), which a busy shared host bends less. ``process`` uses two cores at once, so
its wall rate may pass its CPU rate.
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
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch_ingest import _ctx, output_file

from collector.db import make_engine, upgrade_head
from collector.gateway._batch_lines import line_event, line_events
from collector.recorder import Recorder, RecorderConfig, UsageEvent, WriterProcess, write_batch

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
    for stage in ("write", "record", "recorder", "process"):
        url = f"sqlite:///{work / f'{stage}.db'}"
        upgrade_head(url)
        engine = make_engine(url)
        out[stage] = timed(_stage(stage, engine, pricer, lines, work))
        engine.dispose()
    return out


def _stage(
    stage: str, engine: object, pricer: Pricer, lines: list[bytes], work: Path
) -> Callable[[], object]:
    """The work of ``stage`` (its events priced before, for ``write``)."""
    if stage == "write":
        events = in_runs(pricer, lines, HAND_OVER)
        return lambda: _write(engine, events)
    if stage == "record":
        return lambda: _record(engine, pricer, lines)
    if stage == "recorder":
        return lambda: asyncio.run(through_recorder(pricer, lines, engine, work))
    url = str(engine.url)  # type: ignore[attr-defined]
    return lambda: asyncio.run(through_recorder(pricer, lines, engine, work, WriterProcess(url)))


def _write(engine: object, events: list[UsageEvent]) -> None:
    for i in range(0, len(events), BATCH):
        write_batch(engine, events[i : i + BATCH])  # type: ignore[arg-type]


def _record(engine: object, pricer: Pricer, lines: list[bytes]) -> None:
    for i in range(0, len(lines), BATCH):
        write_batch(engine, pricer(lines[i : i + BATCH], i))  # type: ignore[arg-type]


async def through_recorder(
    pricer: Pricer,
    lines: list[bytes],
    engine: object,
    work: Path,
    writer: WriterProcess | None = None,
) -> None:
    """Lines priced and handed to a running Recorder (journal, queue, writer thread or the
    gateway's writer process) 500 at a time, as the poller does, until every row is written."""
    config = RecorderConfig(batch_size=BATCH)
    recorder = Recorder(engine, work / "spool", config, writer)  # type: ignore[arg-type]
    await recorder.start()
    for i in range(0, len(lines), HAND_OVER):
        recorder.submit_many(pricer(lines[i : i + HAND_OVER], i))
        await asyncio.sleep(0)
    await recorder.flush()
    await recorder.stop()
    if recorder.stats.written != len(lines):
        raise AssertionError(recorder.stats)


WHAT = {
    "price": "decode + price each line (the poller)",
    "write": "write_batch of the priced events, 1,000 a batch (the writer)",
    "record": "both: file bytes to stored rows",
    "recorder": "priced lines through a running Recorder (journal, queue, writer thread)",
    "process": "the same, written by the gateway's writer process (its default)",
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
