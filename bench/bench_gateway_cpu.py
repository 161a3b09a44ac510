"""CPU time per request of the gateway's process tree (user and system), variant beside variant.

Run: .venv/bin/python bench/bench_gateway_cpu.py [--concurrency C] [--seconds S] [--rounds R]
        [--stream] [--variant NAME=TREE]... [--env LABEL=NAME=VALUE]...
Each server (spendscope from this tree, recording on; each ``--variant`` source tree; each
``--env`` setting) takes the same wrk load in turn, round after round; the CPU seconds its
process tree used (``/proc/<pid>/stat`` utime + stime of the gateway and its writer child) are
divided by the requests it answered. Unlike req/s, this barely moves when the other core is
busy, and unlike instruction counts (``bench_gateway_instr.py``) it includes the kernel's
work (syscalls, the journal's writes and fsyncs) and the writer process. Medians of the rounds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _servers import Server, _children, start_mock, start_spendscope, stop
from bench_gateway import wrk_cell

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process and its descendants, dead children included."""
    user = system = 0.0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime are fields 14-17 (1-based); index 11.. after the ")"
        user += (int(fields[11]) + int(fields[13])) / _TICK
        system += (int(fields[12]) + int(fields[14])) / _TICK
    return user, system


def one_round(server: Server, stream: bool, conc: int, seconds: int) -> tuple[float, float, float]:
    """(µs user, µs system per request, req/s) for one wrk run."""
    assert server.proc is not None
    u0, s0 = cpu_seconds(server.proc.pid)
    rps, _p50, _p99, requests, _errors = wrk_cell(server, stream, conc, seconds)
    time.sleep(0.5)  # the last batch reaches the writer child
    u1, s1 = cpu_seconds(server.proc.pid)
    return (u1 - u0) / requests * 1e6, (s1 - s0) / requests * 1e6, rps


def main() -> None:
    parser = argparse.ArgumentParser(description="Gateway CPU per request (prints a table).")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stream", action="store_true", help="Streamed requests (default json).")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=TREE")
    parser.add_argument("--env", action="append", default=[], metavar="LABEL=NAME=VALUE")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_gateway_cpu needs wrk: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="spendscope-cpu-"))
    load0 = os.getloadavg()[0]
    servers: list[Server] = []
    try:
        servers.append(mock := start_mock(work))
        upstream = mock.base_url
        servers.append(start_spendscope(work, upstream, "spendscope", {}))
        for setting in args.env:
            label, _, assignment = setting.partition("=")
            name, _, value = assignment.partition("=")
            servers.append(start_spendscope(work, upstream, label, {name: value}))
        for variant in args.variant:
            label, _, tree = variant.partition("=")
            env = {"PYTHONPATH": str(Path(tree).resolve())}
            servers.append(start_spendscope(work, upstream, label, env))
        gateways = servers[1:]
        for server in gateways:  # warm-up
            wrk_cell(server, args.stream, args.concurrency, 1)
        rows: dict[str, list[tuple[float, float, float]]] = {s.name: [] for s in gateways}
        for _ in range(args.rounds):
            for server in gateways:
                rows[server.name].append(
                    one_round(server, args.stream, args.concurrency, args.seconds)
                )
    finally:
        for server in servers:
            stop(server)
        shutil.rmtree(work, ignore_errors=True)
    mode = "stream" if args.stream else "json"
    print(f"\ngateway CPU per request — {mode}, c={args.concurrency}, median of {args.rounds}"
          f" x {args.seconds} s; load average {load0:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end\n")  # fmt: skip
    base = statistics.median(u + s for u, s, _ in rows[gateways[0].name])
    print(
        f"{'server':<14} {'user µs':>9} {'sys µs':>8} {'total µs':>9} {'vs first':>9} {'req/s':>7}"
    )
    for name, cells in rows.items():
        user = statistics.median(c[0] for c in cells)
        system = statistics.median(c[1] for c in cells)
        total = statistics.median(c[0] + c[1] for c in cells)
        rps = statistics.median(c[2] for c in cells)
        print(f"{name:<14} {user:>9.0f} {system:>8.0f} {total:>9.0f} "
              f"{total / base:>8.0%} {rps:>7.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
