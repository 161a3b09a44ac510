"""Python bytecodes the gateway runs per request, by function: a map of its own work that the
machine's load barely moves (~1 % between runs of the same code).

Run: .venv/bin/python bench/bench_gateway_bytecodes.py [--requests N] [--concurrency C]
        [--top N] [--variant NAME=TREE]...
``spendscope serve`` (recording to SQLite on) starts with a ``sitecustomize`` that, between a
SIGUSR1 and a SIGUSR2, counts every bytecode the interpreter runs (``sys.settrace`` with
opcode events, all threads) per function. After a warm-up, the count covers N non-streamed
requests, then N streamed ones, each segment ending once the recorder has written all of
them. A map of where the Python-level work is, not a cost: a C call (orjson, uvloop, a
``map``/``zip``/``itemgetter`` chain) counts as one bytecode whatever it does, and such chains
can cost more than the specialised loop they replace (docs/performance.md): judge a change by
``bench_gateway_instr.py`` and ``bench_gateway_cpu.py``. The tracer slows the gateway ~30×.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import start_mock, start_spendscope, stop
from bench_gateway_instr import _drained, _load

_COUNTER = """
import os, signal, sys, threading
from collections import Counter

if os.environ.get("BYTECODES_OUT"):
    _counts, _on = Counter(), [False]

    def _local(frame, event, arg):
        if event == "opcode":
            _counts[frame.f_code] += 1
        return _local

    def _global(frame, event, arg):
        if not _on[0]:
            return None
        frame.f_trace_opcodes = True
        return _local

    def _start(*_):
        _counts.clear()
        _on[0] = True
        sys.settrace(_global)
        threading.settrace(_global)

    def _dump(*_):
        _on[0] = False
        sys.settrace(None)
        threading.settrace(None)
        with open(os.environ["BYTECODES_OUT"], "w") as out:
            for code, n in _counts.most_common():
                out.write(f"{n}\\t{code.co_filename}:{code.co_firstlineno}\\t{code.co_qualname}\\n")

    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _dump)
"""
_SHORT = re.compile(r".*?/(collector/|site-packages/|python3\.\d+/)")
_KEEP = r"\1"


def measure(tree: str, args: argparse.Namespace, work: Path) -> dict[str, Counter[str]]:
    """Bytecodes per function (``name (file)``) over N requests, json and stream."""
    hook = work / f"hook-{len(list(work.glob('hook-*')))}"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_COUNTER)
    out = hook / "counts.tsv"
    mock = start_mock(work)
    env = {"PYTHONPATH": f"{hook}{os.pathsep}{tree}", "BYTECODES_OUT": str(out)}
    server = start_spendscope(work, mock.base_url, hook.name, env)
    assert server.proc is not None
    port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
    counts: dict[str, Counter[str]] = {}
    try:
        for stream in (False, True):  # warm-up: connections, caches, lazy imports
            _load(port, server.key, stream, args.warmup, args.concurrency)
        _drained(port)
        for mode, stream in (("json", False), ("stream", True)):
            os.kill(server.proc.pid, signal.SIGUSR1)
            time.sleep(0.3)
            _load(port, server.key, stream, args.requests, args.concurrency)
            _drained(port)
            out.unlink(missing_ok=True)
            os.kill(server.proc.pid, signal.SIGUSR2)
            for _ in range(100):
                if out.exists() and out.stat().st_size:
                    break
                time.sleep(0.1)
            time.sleep(0.5)  # written whole
            found: Counter[str] = Counter()
            for line in out.read_text().splitlines():
                n, where, name = line.split("\t")
                found[f"{name} ({_SHORT.sub(_KEEP, where)})"] += int(n)
            counts[mode] = found
    finally:
        stop(server)
        stop(mock)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="Requests per mode.")
    parser.add_argument("--warmup", type=int, default=100, help="Requests per mode, uncounted.")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--top", type=int, default=25, help="Functions listed per mode.")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=TREE")
    args = parser.parse_args()
    trees = [("this tree", str(Path(__file__).resolve().parent.parent))]
    trees += [(v.partition("=")[0], str(Path(v.partition("=")[2]).resolve())) for v in args.variant]
    work = Path(tempfile.mkdtemp(prefix="spendscope-bytecodes-"))
    try:
        rows = [(name, measure(tree, args, work)) for name, tree in trees]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = args.requests
    print(f"\nPython bytecodes per request (recording to SQLite on; {n} requests per mode at "
          f"concurrency {args.concurrency})\n")  # fmt: skip
    print(f"{'code':20} {'json':>8} {'stream':>8}")
    for name, counts in rows:
        totals = [sum(counts[m].values()) / n for m in ("json", "stream")]
        print(f"{name:20} {totals[0]:>8,.0f} {totals[1]:>8,.0f}")
    for mode in ("json", "stream"):
        print(f"\n{mode}: the {args.top} functions running the most bytecodes ({rows[0][0]})")
        for function, count in rows[0][1][mode].most_common(args.top):
            others = "".join(f" {c[mode][function] / n:>7,.0f}" for _, c in rows[1:])
            print(f"{count / n:>7,.0f}{others}  {function}")


if __name__ == "__main__":
    main()
