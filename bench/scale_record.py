"""Several gateways' writer processes recording into one database at once (for bench_scale.py).

Each writer is a process of its own, as each gateway host's writer process is: it makes its
events first (``seed.py``'s traffic, on November 30 — the seeded database's last day — so its
rows meet the big month's indexes and rollups), says it is ready, and on "go" writes them
with ``write_batch`` (rows, attempts, every rollup, one transaction a batch: what a gateway's
writer process runs). The rate is all events over the time from "go" to the last writer's end.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
DAY = datetime(2026, 11, 30, tzinfo=UTC)


@dataclass
class Recorded:
    events: int
    seconds: float
    rates: list[float]


def run(url: str, writers: int, events: int, batch: int) -> Recorded:
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, url, str(n), str(events), str(batch)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(writers)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit("a writer process failed before it was ready")
        began = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            assert proc.stdout is not None
            written, seconds = proc.stdout.readline().split()
            results.append((int(written), float(seconds)))
        took = time.perf_counter() - began
    finally:
        for proc in procs:
            proc.wait()
    return Recorded(sum(w for w, _ in results), took, [w / s for w, s in results])


def _writer(url: str, number: int, events: int, batch: int) -> None:
    sys.path.insert(0, str(HERE))
    import seed

    from collector.db import make_engine
    from collector.recorder import write_batch

    engine = make_engine(url)
    rng = random.Random(f"{number}-{time.time_ns()}")  # new ids on every run
    users = seed.setup_tenants(engine, rng)
    spacing = 86_400 / events  # spread over the day; ids carry each writer's own randomness
    made = [
        seed.make_event(rng, rng.choice(users), DAY + timedelta(seconds=i * spacing))
        for i in range(events)
    ]
    write_batch(engine, made[:1])  # the connection, the plan and the statements are ready
    print("ready", flush=True)
    sys.stdin.readline()
    began = time.perf_counter()
    written = 0
    for start in range(1, events, batch):
        written += write_batch(engine, made[start : start + batch])
    print(written, time.perf_counter() - began, flush=True)
    engine.dispose()


if __name__ == "__main__":
    _writer(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
