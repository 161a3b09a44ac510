"""How long ``spendscope serve`` takes to answer ``/healthz``, and the CPU it spends getting there.

Run: .venv/bin/python bench/bench_startup.py [--rounds N] [--variant LABEL=TREE ...]
Each round starts the gateway of every tree in turn (this checkout, then each ``--variant``
checkout, run on this interpreter with ``PYTHONPATH`` set to it), twice on one SQLite file:
``first start`` on a new file (the schema is created), ``restart`` on the file the first left
(the schema is there). The clock runs from the process start to the first ``200`` of
``/healthz``; the CPU is that of the process and every child it ended (the migration child, the
writer process), read with ``resource.getrusage`` once the gateway has stopped after SIGTERM.
Medians and best of the rounds; read the load average printed under the table.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def start_once(tree: Path, database: Path, work: Path) -> tuple[float, float]:
    """(seconds to the first healthy answer, CPU seconds of the gateway and its children)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")} | {
        "PYTHONPATH": str(tree),
        "SPENDSCOPE_DATABASE_URL": f"sqlite:///{database}",
        "SPENDSCOPE_SPOOL_DIR": str(work / "spool"),
        "SPENDSCOPE_PORT": str(port),
        "SPENDSCOPE_UPSTREAM_BASE_URL": "http://127.0.0.1:9/v1",
        "SPENDSCOPE_LOG_LEVEL": "WARNING",
    }
    cpu_before = _children_cpu()
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector", "serve"],
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not _healthy(port):
            if proc.poll() is not None:
                raise RuntimeError(f"the gateway of {tree} exited with {proc.returncode}")
            if time.monotonic() - began > 120:
                raise RuntimeError(f"the gateway of {tree} never answered")
            time.sleep(0.02)
        ready = time.monotonic() - began
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    return ready, _children_cpu() - cpu_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=TREE")
    args = parser.parse_args()
    trees = [("this tree", ROOT)]
    for variant in args.variant:
        label, _, tree = variant.partition("=")
        trees.append((label, Path(tree).resolve()))
    load_before = os.getloadavg()[0]
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="ss-startup-") as tmp:
        for round_no in range(args.rounds):
            for label, tree in trees:
                work = Path(tmp) / f"{label}-{round_no}".replace(" ", "-")
                work.mkdir()
                database = work / "spendscope.db"
                for case in ("first start", "restart"):
                    samples.setdefault((label, case), []).append(start_once(tree, database, work))
    table = Table(title=f"spendscope serve until /healthz answers, {args.rounds} rounds")
    for column in ("tree", "case", "ready s median", "best", "CPU s median", "best"):
        table.add_column(column, justify="left" if column in ("tree", "case") else "right")
    for (label, case), runs in samples.items():
        ready = [r for r, _ in runs]
        cpu = [c for _, c in runs]
        table.add_row(
            label,
            case,
            f"{statistics.median(ready):.2f}",
            f"{min(ready):.2f}",
            f"{statistics.median(cpu):.2f}",
            f"{min(cpu):.2f}",
        )
    Console().print(table)
    print(f"load average {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
