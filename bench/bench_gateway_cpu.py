"""CPU time per request of the gateway's process tree (user and system), variant beside variant.

Run: .venv/bin/python bench/bench_gateway_cpu.py [--concurrency C] [--seconds S] [--rounds R]
        [--stream] [--variant NAME=TREE]... [--env LABEL=NAME=VALUE]...
Each server (spendscope from this tree, recording on; each ``--variant`` source tree; each
``--env`` setting) takes the same wrk load in turn, round after round; the CPU seconds its
process tree used (``/proc/<pid>/stat`` utime + stime of the gateway and its writer child) are
divided by the requests it answered: the serving process apart from its writer (the serving
process alone: ``/proc/<pid>/stat`` without the children's fields; the writer: the rest of
the tree), with the serving process's voluntary context switches (every thread's, from
``/proc/<pid>/task/*/status``: sleeps on a lock, the interpreter lock or a pipe) per request.
Unlike req/s, this moves less when the other core is busy, and unlike instruction counts
(``bench_gateway_instr.py``) it includes the kernel's work (syscalls, the journal's writes
and fsyncs) and the writer process. Medians of the rounds.
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


def cpu_seconds(pid: int) -> tuple[float, float, float, float]:
    """(user, system) CPU seconds of a process, then of its descendants (dead ones included)."""
    own = tree = (0.0, 0.0)
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime are fields 14-17 (1-based); index 11.. after the ")"
        user, system = int(fields[11]) / _TICK, int(fields[12]) / _TICK
        dead = (int(fields[13]) / _TICK, int(fields[14]) / _TICK)
        if p == pid:
            own, tree = (user, system), (tree[0] + dead[0], tree[1] + dead[1])
        else:
            tree = (tree[0] + user + dead[0], tree[1] + system + dead[1])
    return own[0], own[1], tree[0], tree[1]


def voluntary_switches(pid: int) -> int:
    """Voluntary context switches of every thread of a process (live threads only)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            status = (task / "status").read_text()
        except OSError:
            continue
        total += int(status.split("voluntary_ctxt_switches:")[1].split()[0])
    return total


def one_round(server: Server, stream: bool, conc: int, seconds: int) -> tuple[float, ...]:
    """(µs user, µs system of the serving process, µs of its writer, voluntary context switches
    of the serving process, each per request; req/s) for one wrk run."""
    assert server.proc is not None
    pid = server.proc.pid
    before, switches = cpu_seconds(pid), voluntary_switches(pid)
    rps, _p50, _p99, requests, _errors = wrk_cell(server, stream, conc, seconds)
    time.sleep(0.5)  # the last batch reaches the writer child
    after, switched = cpu_seconds(pid), voluntary_switches(pid) - switches
    user, system, w_user, w_system = (a - b for a, b in zip(after, before, strict=True))
    per = 1e6 / requests
    return user * per, system * per, (w_user + w_system) * per, switched / requests, rps


def median(cells: list[tuple[float, ...]], *at: int) -> float:
    """The median over rounds of the sum of the fields ``at`` of each round."""
    return statistics.median(sum(c[i] for i in at) for c in cells)


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
        rows: dict[str, list[tuple[float, ...]]] = {s.name: [] for s in gateways}
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
    base = median(rows[gateways[0].name], 0, 1, 2)
    print(f"{'server':<14} {'user µs':>8} {'sys µs':>7} {'writer µs':>10} {'total µs':>9} "
          f"{'vs first':>9} {'vol. cs':>8} {'req/s':>7}")  # fmt: skip
    for name, cells in rows.items():
        total = median(cells, 0, 1, 2)
        print(f"{name:<14} {median(cells, 0):>8.0f} {median(cells, 1):>7.0f} "
              f"{median(cells, 2):>10.0f} {total:>9.0f} {total / base:>8.0%} "
              f"{median(cells, 3):>8.2f} {median(cells, 4):>7.0f}")  # fmt: skip
    print("(user, sys: the serving process; writer: its writer process; vol. cs: the serving")
    print(" process's voluntary context switches per request, every thread)")


if __name__ == "__main__":
    main()
