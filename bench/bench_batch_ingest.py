"""Batch API output ingestion: lines per second from an output file's bytes into SQLite rows.

Run: .venv/bin/python bench/bench_batch_ingest.py [--lines N] [--repeat R]
Three stages, each on a fresh SQLite file, over the same output file of N chat completion
lines (the body shape the mock upstream writes, usage varied; 2 % of lines failed):
``price`` decodes each line and turns it into a priced event (``_batch_lines.line_event``,
batch rates) — the poller's own work; ``write`` adds ``write_batch`` in batches of 1,000 —
rows, attempts and every rollup, as the writer does; ``recorder`` hands each event to a running
``Recorder`` (journal, queue, writer thread) as the poller does, timed until all are written.
With ``--repeat`` each stage runs R times; best and median rates are shown, and the best rate
per CPU-second of the process (all its threads), which a busy shared host bends less than
wall time. Compare within one run, and read the load average printed with the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.batches import JobRef
from collector.db import make_engine, upgrade_head
from collector.gateway._batch_lines import LineContext, line_event
from collector.recorder import Recorder, RecorderConfig, UsageEvent, write_batch

CREATED = datetime(2026, 11, 1, tzinfo=UTC)
MODELS = ("gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4.1-mini-2025-04-14")
BATCH = 1000


def output_file(n: int, rng: random.Random) -> bytes:
    """``n`` lines as the mock upstream writes them (the chat completion body shape)."""
    lines = []
    for i in range(n):
        prompt, completion = rng.randint(20, 3000), rng.randint(1, 800)
        if rng.random() < 0.02:
            error = {"message": "bad", "type": "invalid_request_error", "param": None,
                     "code": None}  # fmt: skip
            response = {"status_code": 400, "request_id": f"req_{i:032x}", "body": {"error": error}}
        else:
            body = {
                "id": f"chatcmpl-{i:020x}", "object": "chat.completion",
                "created": int((CREATED + timedelta(seconds=i // 50)).timestamp()),
                "model": rng.choice(MODELS), "service_tier": "default",
                "system_fingerprint": "fp_04b83aa416",
                "choices": [{"index": 0, "message": {"role": "assistant",
                             "content": "word " * rng.randint(5, 60), "refusal": None,
                             "annotations": []}, "logprobs": None, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt + completion,
                          "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                          "completion_tokens_details": {"reasoning_tokens": 0,
                                                        "audio_tokens": 0}},
            }  # fmt: skip
            response = {"status_code": 200, "request_id": f"req_{i:032x}", "body": body}
        row = {"id": f"batch_req_{i:024x}", "custom_id": f"req-{i}", "response": response,
               "error": None}  # fmt: skip
        lines.append(orjson.dumps(row))
    return b"\n".join(lines) + b"\n"


def _ctx() -> LineContext:
    job = JobRef("batch_bench", "default", "/v1/chat/completions", CREATED, "completed", None,
                 None, "bench", {"team": "etl"})  # fmt: skip
    return LineContext(job, CREATED + timedelta(hours=1))


def events_of(data: bytes) -> list[UsageEvent]:
    ctx = _ctx()
    call = ctx.call
    return [
        line_event(orjson.loads(line), f"output:{i}", ctx, call)
        for i, line in enumerate(data.splitlines())
        if line
    ]


def stage_price(data: bytes, _work: Path) -> int:
    return len(events_of(data))


def stage_write(data: bytes, work: Path) -> int:
    url = f"sqlite:///{work / 'write.db'}"
    upgrade_head(url)
    engine = make_engine(url)
    events = events_of(data)
    for i in range(0, len(events), BATCH):
        write_batch(engine, events[i : i + BATCH])
    engine.dispose()
    return len(events)


def stage_recorder(data: bytes, work: Path) -> int:
    url = f"sqlite:///{work / 'recorder.db'}"
    upgrade_head(url)
    engine = make_engine(url)

    async def run() -> int:
        recorder = Recorder(engine, work / "spool", RecorderConfig(batch_size=BATCH))
        await recorder.start()
        ctx = _ctx()
        call = ctx.call
        n = 0
        for i, line in enumerate(data.splitlines()):
            if line:
                recorder.submit(line_event(orjson.loads(line), f"output:{i}", ctx, call))
                n += 1
                if n % 500 == 0:
                    await asyncio.sleep(0)
        await recorder.flush()
        await recorder.stop()
        assert recorder.stats.written == n, recorder.stats
        return n

    try:
        return asyncio.run(run())
    finally:
        engine.dispose()


STAGES: dict[str, tuple[str, Callable[[bytes, Path], int]]] = {
    "price": ("decode + price each line (batch rates)", stage_price),
    "write": ("… + write_batch into SQLite, 1,000 a batch", stage_write),
    "recorder": ("… through a running Recorder (journal, queue, writer)", stage_recorder),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.lines < 1 or args.repeat < 1:
        parser.error("--lines and --repeat must be >= 1")
    data = output_file(args.lines, random.Random(7))
    load_start = os.getloadavg()[0]
    wall: dict[str, list[float]] = {name: [] for name in STAGES}
    cpu: dict[str, list[float]] = {name: [] for name in STAGES}
    for _ in range(args.repeat):
        for name, (_label, func) in STAGES.items():  # stages take turns, run by run
            with tempfile.TemporaryDirectory() as tmp:
                t0, c0 = time.perf_counter(), time.process_time()
                n = func(data, Path(tmp))
                wall[name].append(n / (time.perf_counter() - t0))
                cpu[name].append(n / (time.process_time() - c0))
    table = Table(title=f"Batch output ingestion, {args.lines:,} lines, {args.repeat} runs")
    for column in ("stage", "what", "lines/s best", "lines/s median", "lines per CPU-s best"):
        table.add_column(column, justify="left" if column in ("stage", "what") else "right")
    for name, (label, _func) in STAGES.items():
        rates = wall[name]
        table.add_row(
            name, label, f"{max(rates):,.0f}", f"{statistics.median(rates):,.0f}",
            f"{max(cpu[name]):,.0f}",
        )  # fmt: skip
    console = Console()
    console.print(table)
    console.print(
        f"host load average (1 min): {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )


if __name__ == "__main__":
    main()
