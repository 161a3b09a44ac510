"""Response cache: a hit against a miss and against the bare pass-through, from ONE run.

Servers (each its own process on 127.0.0.1): the mock upstream, the ASGI pass-through
(bench/passthrough.py) and spendscope with the response cache on for the bench project
(in memory; ``--redis URL`` adds a spendscope whose cache is in Redis). Load from wrk:

- pass-through: the deterministic request (temperature 0), relayed to the mock;
- miss: spendscope, every request's body different (a counter in the prompt), so each one
  looks up, misses, goes upstream and is stored;
- hit: spendscope, the same body every time (stored by the warm-up), answered from the cache.

JSON and streams, at c=1 (latency) and c=16 (throughput); the median of ``--rounds`` rounds.
Prints a table; never a test. ``--quick`` for a short run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import (  # a sibling module, not a package
    MODEL,
    Cell,
    Server,
    run_wrk,
    start_mock,
    start_passthrough,
    start_spendscope,
    stop,
)

CACHE_ON = {"SPENDSCOPE_CACHE_ENABLED": "true", "SPENDSCOPE_CACHE_PROJECTS": '["bench"]'}


def _body(stream: bool, prompt: str) -> str:
    payload = {"model": MODEL, "max_tokens": 16, "stream": stream, "temperature": 0,
               "messages": [{"role": "user", "content": prompt}]}  # fmt: skip
    return json.dumps(payload)


def _lua(server: Server, stream: bool, vary: bool) -> str:
    """A wrk script: one fixed body, or a new prompt every request (``vary``: all misses)."""
    head = ("wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n"
            f"wrk.headers['Authorization'] = 'Bearer {server.key}'\n")  # fmt: skip
    if not vary:
        return head + f"wrk.body = [[{_body(stream, 'Say hello in five words.')}]]\n"
    template = _body(stream, "Say hello in five words, take %d.").replace("%d", "%s")
    return head + (
        f"local n = {time.time_ns() % 1_000_000_000}\n"
        "request = function()\n  n = n + 1\n"
        f"  return wrk.format(nil, nil, nil, string.format([[{template}]], n))\nend\n"
    )


def wrk(name: str, server: Server, stream: bool, vary: bool, conc: int, seconds: int) -> Cell:
    url = server.base_url + "/chat/completions"
    rps, p50, p99, requests, errors = run_wrk(name, url, _lua(server, stream, vary), conc, seconds)
    mode = "stream" if stream else "json"
    return Cell(name, mode, conc, rps, p50, p99, int(requests), int(errors))


def _median(cells: list[Cell]) -> Cell:
    mid = sorted(cells, key=lambda c: c.rps)[len(cells) // 2]
    p50, p99 = (statistics.median(getattr(c, a) for c in cells) for a in ("p50_ms", "p99_ms"))
    errors = sum(c.errors for c in cells)
    return Cell(mid.target, mid.mode, mid.concurrency, mid.rps, p50, p99, mid.requests, errors)


def table(cells: list[Cell]) -> str:
    head = (f"{'mode':6} {'c':>3}  {'target':28} {'req/s':>8} {'vs pass':>8} {'p50 ms':>7} "
            f"{'p99 ms':>7} {'requests':>8} {'errors':>6}")  # fmt: skip
    lines = [head, "-" * len(head)]
    for c in cells:
        base = next(b for b in cells if b.target.startswith("pass-through")
                    and b.mode == c.mode and b.concurrency == c.concurrency)  # fmt: skip
        ratio = f"{c.rps / base.rps:7.0%}" if base.rps else "-"
        start = f"{c.mode:6} {c.concurrency:>3}  {c.target:28} {c.rps:>8.0f} {ratio:>8}"
        lines.append(f"{start} {c.p50_ms:>7.2f} {c.p99_ms:>7.2f} {c.requests:>8} {c.errors:>6}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--redis", help="also run a spendscope whose cache is in this Redis")
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s per cell")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 2, 1
    work = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    servers: list[Server] = []
    try:
        servers.append(mock := start_mock(work))
        servers.append(passthrough := start_passthrough(work, mock.base_url, "asgi"))
        servers.append(memory := start_spendscope(work, mock.base_url, "cache-mem", CACHE_ON))
        targets = [("pass-through (asgi)", passthrough, False),
                   ("spendscope miss (memory)", memory, True),
                   ("spendscope hit (memory)", memory, False)]  # fmt: skip
        if args.redis:
            env = CACHE_ON | {"SPENDSCOPE_REDIS_URL": args.redis,
                              "SPENDSCOPE_REDIS_KEY_PREFIX": f"bench-{os.getpid()}"}  # fmt: skip
            servers.append(redis := start_spendscope(work, mock.base_url, "cache-redis", env))
            targets += [("spendscope miss (redis)", redis, True),
                        ("spendscope hit (redis)", redis, False)]  # fmt: skip
        cells: list[Cell] = []
        for stream in (False, True):
            for name, server, vary in targets:  # warm-up; stores the hit rows' answer
                wrk(name, server, stream, vary, 4, 1)
            for conc in args.concurrency:
                rounds: dict[str, list[Cell]] = {name: [] for name, _, _ in targets}
                for _ in range(args.rounds):
                    for name, server, vary in targets:
                        rounds[name].append(wrk(name, server, stream, vary, conc, args.seconds))
                cells += [_median(r) for r in rounds.values()]
        load = os.getloadavg()
        print(table(cells))
        loads = " ".join(f"{x:.2f}" for x in load)
        print(f"\n{args.rounds} round(s) of {args.seconds} s per cell, median kept; "
              f"load average {loads}; {os.cpu_count()} CPUs")  # fmt: skip
    finally:
        for server in reversed(servers):
            stop(server)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
