"""Recorder throughput (events/s) into SQLite and PostgreSQL by batch size, with peak RSS.

Run: .venv/bin/python bench/bench_recorder.py [--events N] [--pg URL]
Each cell writes fresh events through ``write_batch`` (requests + attempts + both rollups in
one transaction per batch), i.e. exactly what the background recorder does per batch.
"""

from __future__ import annotations

import argparse
import random
import resource
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
from collector.recorder import AttemptEvent, UsageEvent, new_request_id, write_batch

MODELS = ["gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4.1-2025-04-14", "o3-2025-04-16"]


def make_events(n: int, rng: random.Random) -> list[UsageEvent]:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    events = []
    for i in range(n):
        started = t0 + timedelta(milliseconds=i)  # a live stream arrives in time order
        duration = rng.lognormvariate(5, 0.6)
        event = UsageEvent(
            id=new_request_id(), started_at=started, duration_ms=duration,
            endpoint="/v1/chat/completions", outcome="success", cost_source="computed",
            model_requested="gpt-4o-mini", model_served=rng.choice(MODELS),
            end_user=f"user-{rng.randint(1, 50)}", tags={"team": rng.choice(["a", "b"])},
            http_status=200, prompt_tokens=rng.randint(10, 2000),
            completion_tokens=rng.randint(1, 500), cost_usd=Decimal("0.0001234567"),
            ttft_ms=duration / 3,
        )  # fmt: skip
        event.attempts = [AttemptEvent(1, started, duration, http_status=200)]
        events.append(event)
    return events


def run_cell(url: str, batch: int, n: int) -> float:
    events = make_events(n, random.Random(batch))
    engine = make_engine(url)
    started = time.perf_counter()
    for i in range(0, n, batch):
        write_batch(engine, events[i : i + batch])
    took = time.perf_counter() - started
    engine.dispose()
    return n / took


def pg_schema_url(base: str) -> tuple[str, str]:
    schema = "bench_" + uuid.uuid4().hex[:8]
    with create_engine(base).begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return f"{base}?options=-csearch_path%3D{schema}", schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    table = Table(title=f"recorder throughput, {args.events:,} events per cell (events/s)")
    table.add_column("batch size", justify="right")
    table.add_column("SQLite", justify="right")
    table.add_column("PostgreSQL", justify="right")
    for batch in (1, 10, 100, 1000):
        n = min(args.events, 2000 if batch == 1 else args.events)
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            upgrade_head(sqlite_url)
            sqlite_rate = run_cell(sqlite_url, batch, n)
        pg_url, schema = pg_schema_url(args.pg)
        try:
            upgrade_head(pg_url)
            pg_rate = run_cell(pg_url, batch, n)
        finally:
            with create_engine(args.pg).begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        table.add_row(str(batch), f"{sqlite_rate:,.0f}", f"{pg_rate:,.0f}")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console = Console()
    console.print(table)
    console.print(f"peak RSS of the benchmark process: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
