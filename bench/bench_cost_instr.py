"""``compute_cost`` in CPU instructions per call (callgrind), immune to a busy machine.

Run: .venv/bin/python bench/bench_cost_instr.py [--calls N] [--variant NAME=TREE]...
Each tree runs ``bench_cost.py``'s own scenarios (its file in that tree, so an older commit
unpacked with ``git archive`` runs the rows it had) under ``valgrind --tool=callgrind``:
per row, 200 warm-up calls uncounted, then N counted calls (instrumentation switched on
around them with ``callgrind_control``, one dump per row). Rows a tree does not have are
left empty. Wall-clock rates on this shared machine swing by a factor of 3; instruction
counts repeat to ~1 %. Needs Debian's ``valgrind``. Takes a few minutes a tree.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_recorder_instr import _variant
from rich.console import Console
from rich.table import Table

_CHILD = r"""
import logging, os, subprocess, sys
tree, calls = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, os.path.join(tree, "bench"))
import collector
assert collector.__file__.startswith(tree), collector.__file__
from bench_cost import _scenarios
from collector.pricing import load_catalog
logging.getLogger("collector.pricing").setLevel(logging.ERROR)
load_catalog()
pid = str(os.getpid())
for name, call in _scenarios():
    for _ in range(200):
        call()
    subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
    for _ in range(calls):
        call()
    subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
    print(name, flush=True)
"""
_TOTALS = re.compile(r"^totals: (\d+)", re.MULTILINE)


def instructions(tree: str, calls: int, folder: Path) -> dict[str, int]:
    """Instructions per call of each of ``tree``'s bench_cost scenarios."""
    out_file = folder / f"callgrind-{abs(hash(tree))}.out"
    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}",
        sys.executable, "-c", _CHILD, tree, str(calls),
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=tree)
    run = subprocess.run(command, capture_output=True, text=True, cwd=tree, env=env)
    names = run.stdout.split("\n")[:-1]
    if run.returncode != 0 or not names:
        raise SystemExit(f"callgrind run of {tree} failed:\n{run.stderr[-2000:]}")
    dumps = sorted(folder.glob(f"{out_file.name}.*"), key=lambda p: int(p.suffix[1:]))
    counts = []
    for dump in dumps:
        found = _TOTALS.search(dump.read_text())
        counts.append(int(found.group(1)) if found else 0)
    return {name: count // calls for name, count in zip(names, counts, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--variant", type=_variant, action="append", default=[])
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    if args.calls < 1:
        raise SystemExit("--calls must be >= 1")
    trees = [("this tree", str(Path(__file__).resolve().parent.parent)), *args.variant]
    with tempfile.TemporaryDirectory() as tmp:
        counts = [(name, instructions(tree, args.calls, Path(tmp))) for name, tree in trees]
    table = Table(title=f"compute_cost, instructions per call ({args.calls:,} calls a row)")
    table.add_column("scenario")
    for name, _ in counts:
        table.add_column(name, justify="right")
    if len(counts) > 1:
        table.add_column(f"{counts[0][0]} vs {counts[1][0]}", justify="right")
    for row in counts[0][1]:
        cells = [f"{c[row]:,}" if row in c else "" for _, c in counts]
        if len(counts) > 1 and row in counts[1][1]:
            cells.append(f"{counts[0][1][row] / counts[1][1][row] - 1:+.1%}")
        table.add_row(row, *cells)
    Console().print(table)


if __name__ == "__main__":
    main()
