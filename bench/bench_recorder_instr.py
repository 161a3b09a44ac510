"""Recorder cost in CPU instructions per event (callgrind), immune to a busy machine.

Run: .venv/bin/python bench/bench_recorder_instr.py [--events N] [--batch B]
        [--variant NAME=TREE]...
Each row writes the same N events (as ``bench_recorder.py`` makes them) through
``write_batch`` into a fresh SQLite file under ``valgrind --tool=callgrind``, counting only
the writes (instrumentation is switched on around them with ``callgrind_control``). A
``--variant`` runs another source tree (e.g. an older commit unpacked with ``git archive``)
with the same events, so the table compares code, not machines: wall-clock rates on a
shared 2-core machine swing by 30 %, instruction counts repeat to ~0.5 %.
Needs valgrind (Debian's ``valgrind`` package). Takes ~1 minute a row.
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

from rich.console import Console
from rich.table import Table

_CHILD = r"""
import os, random, shutil, subprocess, sys, tempfile
from pathlib import Path
tree, events, batch, template = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, os.path.join(tree, "bench"))
import collector
assert collector.__file__.startswith(tree), collector.__file__
from bench_recorder import make_events
from collector.db import make_engine
from collector.recorder import write_batch
path = Path(tempfile.mkdtemp()) / "bench.db"
shutil.copy(template, path)
engine = make_engine(f"sqlite:///{path}")
write_batch(engine, make_events(500, random.Random(9)))  # warm: statements, caches
todo = make_events(events, random.Random(5))
toggle = ["callgrind_control", "-i"]
subprocess.run([*toggle, "on", str(os.getpid())], check=True, capture_output=True)
for i in range(0, events, batch):
    write_batch(engine, todo[i : i + batch])
subprocess.run([*toggle, "off", str(os.getpid())], check=True, capture_output=True)
"""
_COLLECTED = re.compile(r"Collected : (\d+)")


def _template(tree: str, folder: Path, env: dict[str, str]) -> Path:
    """An empty database at the tree's own head revision."""
    path = folder / f"template-{abs(hash(tree))}.db"
    code = "import sys; from collector.db import upgrade_head; upgrade_head(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, f"sqlite:///{path}"], check=True, cwd=tree, env=env)
    return path


def instructions(tree: str, events: int, batch: int, folder: Path) -> int:
    """Instructions spent in ``write_batch`` for ``events`` events from ``tree``'s code."""
    env = dict(os.environ, PYTHONPATH=tree)
    template = _template(tree, folder, env)
    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no",
        f"--callgrind-out-file={folder / 'callgrind.out'}",
        sys.executable, "-c", _CHILD, tree, str(events), str(batch), str(template),
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, cwd=tree, env=env)
    found = _COLLECTED.search(out.stderr)
    if out.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run of {tree} failed:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def _variant(text: str) -> tuple[str, str]:
    name, sep, tree = text.partition("=")
    if not sep or not name or not Path(tree, "collector").is_dir():
        raise argparse.ArgumentTypeError(f"expected NAME=TREE with TREE/collector: {text!r}")
    return name, str(Path(tree).resolve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--variant", type=_variant, action="append", default=[])
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    if args.events < 1 or args.batch < 1:
        raise SystemExit("--events and --batch must be >= 1")
    trees = [("this tree", str(Path(__file__).resolve().parent.parent)), *args.variant]
    table = Table(title=f"write_batch on SQLite, {args.events:,} events, batch {args.batch:,}")
    for column in ("code", "instructions / event", "relative"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        counts = [
            (name, instructions(tree, args.events, args.batch, Path(tmp))) for name, tree in trees
        ]
    base = counts[0][1]
    for name, count in counts:
        table.add_row(name, f"{count / args.events:,.0f}", f"{count / base:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
