"""Where the gateway's CPU goes per request, by stage: py-spy samples of the serving process
under wrk load, each sample charged to the innermost frame that names a stage.

Run: .venv/bin/python bench/bench_gateway_stages.py [--seconds 10] [--concurrency 16]
        [--stream] [--hard-budget] [--variant NAME=TREE]...
Stages: parse (intake), auth (keys), admission (budgets, rate limits), forward (upstream
client), relay (response, stream observation), settle (pricing, usage), event (row building,
hand-off to the recorder), metrics, server (uvicorn/ASGI), loop (asyncio), other. Shares of
the process's busy samples, and µs per request (busy CPU / answered requests): shares are
comparable across a noisy machine, µs only within one run. Prints a table; never a test.
Needs py-spy (PyPI) and wrk (Debian); py-spy must be allowed to read the process (root).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import BIN, Server, body, run_wrk, start_mock, start_spendscope, stop

# (stage, pattern on a frame's file): checked innermost frame first, first match wins
_STAGES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (stage, re.compile(pattern))
    for stage, pattern in (
        ("parse", r"collector/gateway/_(intake|body|paths)\.py"),
        ("auth", r"collector/(gateway/_(auth|keyauth)\.py|keys/)"),
        ("admission", r"collector/(budgets|ratelimit|admission\.py)|gateway/_estimate|tokens/"),
        ("forward", r"collector/gateway/_(forward|upstream)\.py"),
        ("relay", r"collector/gateway/_(relay|sse|cached)\.py"),
        ("settle", r"collector/(pricing/|usage\.py|gateway/_usage\.py)"),
        ("event", r"collector/(recorder/|requestlog\.py|ulid\.py|gateway/_exchange\.py)"),
        ("metrics", r"collector/(metrics/|histogram\.py)"),
        ("server", r"collector/gateway/_http\.py"),  # the serving protocol's socket writes
        ("gateway", r"collector/gateway/"),
        ("forward", r"aiohttp/|multidict|yarl/"),
        ("server", r"uvicorn/|h11/|httptools|starlette/|fastapi/"),
        ("loop", r"asyncio/|uvloop"),
    )
)
_FRAME = re.compile(r"\(([^():]+):\d+\)$")


def stage_of(stack: str) -> str:
    """The stage one collapsed stack (``root;...;leaf``) is charged to."""
    files = [m.group(1) for frame in reversed(stack.split(";")) if (m := _FRAME.search(frame))]
    for file in files:
        for stage, pattern in _STAGES:
            if pattern.search(file):
                return stage
    return "other"


def profile(server: Server, args: argparse.Namespace, raw: Path) -> tuple[Counter[str], int]:
    """Samples per stage while wrk loads ``server``; and the requests wrk completed."""
    assert server.proc is not None
    lua = ("wrk.method = 'POST'\n"
           f"wrk.body = [[{body(args.stream).decode()}]]\n"
           "wrk.headers['Content-Type'] = 'application/json'\n"
           f"wrk.headers['Authorization'] = 'Bearer {server.key}'\n")  # fmt: skip
    url = server.base_url + "/chat/completions"
    run_wrk(server.name, url, lua, args.concurrency, 2)  # warm-up: connections, lazy imports
    spy = subprocess.Popen(
        [str(BIN / "py-spy"), "record", "--pid", str(server.proc.pid), "--format", "raw",
         "--output", str(raw), "--rate", "250", "--duration", str(args.seconds), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.5)  # py-spy attaches
    cell = run_wrk(server.name, url, lua, args.concurrency, args.seconds - 1)
    spy.wait(args.seconds + 30)
    samples: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples[stage_of(stack)] += int(count)
    return samples, int(cell[3])


def table(rows: dict[str, tuple[Counter[str], int]], rate: int) -> str:
    stages = [s for s, _ in _STAGES if s not in ("gateway",)]
    order = list(dict.fromkeys([*stages, "gateway", "other"]))
    names = list(rows)
    head = f"{'stage':10}" + "".join(f"{n[:22]:>24}" for n in names)
    lines = [head, f"{'':10}" + "".join(f"{'share   µs/req':>24}" for _ in names), "-" * len(head)]
    for stage in order:
        cells = []
        for name in names:
            samples, requests = rows[name]
            busy = sum(samples.values()) or 1
            us = samples[stage] / rate * 1e6 / max(requests, 1)
            cells.append(f"{samples[stage] / busy:>14.1%} {us:>8.1f}")
        lines.append(f"{stage:10}" + "".join(f"{c:>24}" for c in cells))
    totals = []
    for name in names:
        samples, requests = rows[name]
        totals.append(f"{'':>14} {sum(samples.values()) / rate * 1e6 / max(requests, 1):>8.1f}")
    lines.append(f"{'total':10}" + "".join(f"{t:>24}" for t in totals))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Gateway CPU per request by stage (py-spy).")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--hard-budget", action="store_true", help="Hard budget + RPM key.")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=TREE")
    args = parser.parse_args()
    for tool in ("wrk", str(BIN / "py-spy")):
        if shutil.which(tool) is None:
            sys.exit(f"needs {tool}: apt-get install -y wrk; .venv/bin/pip install py-spy")
    work = Path(tempfile.mkdtemp(prefix="spendscope-stages-"))
    mock = start_mock(work)
    policy = (("--rpm", "1000000000"), "1000000") if args.hard_budget else ((), None)
    trees: list[tuple[str, dict[str, str]]] = [("this tree", {})]
    for variant in args.variant:
        label, _, tree = variant.partition("=")
        trees.append((label, {"PYTHONPATH": str(Path(tree).resolve())}))
    rows: dict[str, tuple[Counter[str], int]] = {}
    try:
        for label, env in trees:
            server = start_spendscope(work, mock.base_url, label, env, *policy)
            try:
                rows[label] = profile(server, args, work / f"{label}.raw")
            finally:
                stop(server)
    finally:
        stop(mock)
        shutil.rmtree(work, ignore_errors=True)
    mode = "stream" if args.stream else "json"
    print(f"\ngateway CPU by stage — {mode}, c={args.concurrency}, {args.seconds} s each; "
          f"py-spy at 250 Hz on the serving process (busy samples only)\n")  # fmt: skip
    print(table(rows, 250))


if __name__ == "__main__":
    main()
