"""Gateway overhead: the same small chat completions direct, through a bare pass-through,
through spendscope (recording on / off) and through LiteLLM's proxy, side by side from ONE run.

Every server is its own process on 127.0.0.1; the load comes from wrk (C, one thread, so it
takes less CPU from the servers than a Python client would). Prints a table; never a test.
Usage and caveats: bench/README.md (``--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import (  # a sibling module, not a package
    LITELLM,
    Cell,
    Server,
    body,
    peak_rss_parts,
    run_wrk,
    start_litellm,
    start_mock,
    start_passthrough,
    start_spendscope,
    stop,
)

DEFER_WRITES = {"SPENDSCOPE_RECORDER_FLUSH_INTERVAL_MS": "3600000",  # one flush an hour, and
                "SPENDSCOPE_RECORDER_BATCH_SIZE": "10000000",  # batches too big to fill
                "SPENDSCOPE_RECORDER_QUEUE_SIZE": "10000000"}  # fmt: skip


@dataclass
class Run:
    servers: list[Server] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    workers: int = 1  # the workers of the N-worker server (1: none run)


def wrk_cell(server: Server, stream: bool, conc: int, seconds: int) -> tuple[float, ...]:
    """(req/s, p50 ms, p99 ms, requests, errors) from one wrk run."""
    lua = ("wrk.method = 'POST'\n"
           f"wrk.body = [[{body(stream).decode()}]]\n"
           "wrk.headers['Content-Type'] = 'application/json'\n"
           f"wrk.headers['Authorization'] = 'Bearer {server.key}'\n")  # fmt: skip
    return run_wrk(server.name, server.base_url + "/chat/completions", lua, conc, seconds)


def recording_switch(given: str | None) -> dict[str, str] | None:
    """The env that turns recording off: given as NAME=VALUE, else a bool setting named *record*."""
    if given:
        name, _, value = given.partition("=")
        return {name: value}
    from collector.settings import Settings

    for name, spec in Settings.model_fields.items():
        if "record" in name and spec.annotation is bool:
            return {f"SPENDSCOPE_{name.upper()}": "false"}
    return None


def start_all(run: Run, work: Path, args: argparse.Namespace) -> None:
    run.servers.append(mock := start_mock(work))
    for kind in args.passthrough:
        run.servers.append(start_passthrough(work, mock.base_url, kind))
    run.servers.append(start_spendscope(work, mock.base_url, "spendscope (recording on)", {}))
    if args.hard_budget:  # every request is admitted: RPM counter, worst case on a lease
        policy = ("--rpm", "1000000000")
        name = "spendscope (hard budget + RPM)"
        run.servers.append(start_spendscope(work, mock.base_url, name, {}, policy, "1000000"))
        for variant in args.variant:
            label, _, tree = variant.partition("=")
            env = {"PYTHONPATH": str(Path(tree).resolve())}
            name = f"variant {label} (budget+RPM)"
            run.servers.append(start_spendscope(work, mock.base_url, name, env, policy, "1000000"))
    name, switch = "spendscope (recording off)", recording_switch(args.recording_off_env)
    if switch is None:
        name, switch = "spendscope (recording off*)", DEFER_WRITES
        run.notes.append("*: no recording switch in Settings: DB writes deferred past the run")
    run.servers.append(start_spendscope(work, mock.base_url, name, switch))
    if args.tpm_key:  # a TPM-limited key (code before 2026-12-07 loaded o200k_base for it)
        tpm = ("--tpm", "1000000000")
        run.servers.append(start_spendscope(work, mock.base_url, "spendscope (TPM key)", {}, tpm))
        for variant in args.variant:
            label, _, tree = variant.partition("=")
            env = {"PYTHONPATH": str(Path(tree).resolve())}
            name = f"variant {label} (TPM key)"
            run.servers.append(start_spendscope(work, mock.base_url, name, env, tpm))
    if args.workers > 1:
        run.workers = args.workers
        name = f"spendscope ({args.workers} workers)"
        workers = ("--workers", str(args.workers))
        run.servers.append(start_spendscope(work, mock.base_url, name, {}, serve_args=workers))
    for setting in args.env:
        label, _, assignment = setting.partition("=")
        name, _, value = assignment.partition("=")
        run.servers.append(
            start_spendscope(work, mock.base_url, f"spendscope ({label})", {name: value})
        )
    for variant in args.variant:
        label, _, tree = variant.partition("=")
        env = {"PYTHONPATH": str(Path(tree).resolve())}
        run.servers.append(start_spendscope(work, mock.base_url, f"variant {label} (rec. on)", env))
    if args.no_litellm or not LITELLM.exists():
        run.notes.append(f"LiteLLM not run: --no-litellm, or {LITELLM} missing (bench/README.md)")
        return
    try:
        run.servers.append(start_litellm(work, mock.base_url))
    except RuntimeError as exc:
        run.notes.append(f"LiteLLM: failed to start ({exc}); log in {work / 'litellm.log'}")


def one_cell(server: Server, stream: bool, conc: int, seconds: int) -> Cell:
    rps, p50, p99, requests, errors = wrk_cell(server, stream, conc, seconds)
    mode = "stream" if stream else "json"
    return Cell(server.name, mode, conc, rps, p50, p99, int(requests), int(errors))


def measure(run: Run, args: argparse.Namespace) -> None:
    """Rounds of every server back to back per cell; the median round is kept (noisy host)."""
    for stream in (False, True):
        for server in run.servers:  # warm-up: connections, caches, lazy imports
            one_cell(server, stream, 16, 1)
        for conc in args.concurrency:
            rounds: dict[str, list[Cell]] = {s.name: [] for s in run.servers}
            for _ in range(args.rounds):
                for server in run.servers:
                    rounds[server.name].append(one_cell(server, stream, conc, args.seconds))
                    time.sleep(args.pause)
            run.cells += [_median(cells) for cells in rounds.values()]


def _median(cells: list[Cell]) -> Cell:
    mid = sorted(cells, key=lambda c: c.rps)[len(cells) // 2]
    p50, p99 = (statistics.median(getattr(c, a) for c in cells) for a in ("p50_ms", "p99_ms"))
    errors = sum(c.errors for c in cells)
    return Cell(mid.target, mid.mode, mid.concurrency, mid.rps, p50, p99, mid.requests, errors)


def _find(run: Run, prefix: str, mode: str, conc: int) -> Cell | None:
    return next((c for c in run.cells if c.target.startswith(prefix) and c.mode == mode
                 and c.concurrency == conc), None)  # fmt: skip


def table(run: Run) -> str:
    head = (f"{'mode':6} {'c':>3}  {'target':30} {'req/s':>8} {'vs pass':>8} {'p50 ms':>7} "
            f"{'p99 ms':>7} {'+p50 ms':>8} {'+p99 ms':>8} {'requests':>8} {'errors':>6}"
            )  # fmt: skip
    return "\n".join([head, "-" * len(head), *(_row(run, cell) for cell in run.cells)])


def _row(run: Run, cell: Cell) -> str:
    start = f"{cell.mode:6} {cell.concurrency:>3}  {cell.target:30} {cell.rps:>8.0f}"
    if not cell.requests:
        return f"{start}  no request completed within the cell (timeouts)"
    direct = _find(run, "direct", cell.mode, cell.concurrency)
    passthrough = _find(run, "pass-through", cell.mode, cell.concurrency)
    ratio = f"{cell.rps / passthrough.rps:7.0%}" if passthrough and passthrough.rps else "-"
    added50 = cell.p50_ms - direct.p50_ms if direct else 0.0
    added99 = cell.p99_ms - direct.p99_ms if direct else 0.0
    return (f"{start} {ratio:>8} {cell.p50_ms:>7.2f} {cell.p99_ms:>7.2f} {added50:>+8.2f} "
            f"{added99:>+8.2f} {cell.requests:>8} {cell.errors:>6}")  # fmt: skip


def _pct(a: Cell | None, b: Cell | None) -> float | None:
    return None if a is None or b is None else 100 * a.rps / b.rps


def _added(a: Cell | None, b: Cell | None, attr: str) -> float | None:
    return None if a is None or b is None else getattr(a, attr) - getattr(b, attr)


def targets(run: Run, rss: dict[str, float]) -> list[str]:
    """The gateway's targets (issue #23), each against the pass-through in the same run."""
    on, budget, floor = "spendscope (recording on)", "spendscope (hard budget", "pass-through"
    n = run.workers
    workers = f"spendscope ({n} workers)" if n > 1 else None
    checks: list[tuple[str, float | None, Callable[[float], bool]]] = []
    for mode in ("json", "stream"):
        share = _pct(_find(run, on, mode, 16), _find(run, floor, mode, 16))
        checks.append((f"{mode}: >= 75 % of pass-through at c=16 (%)", share, lambda v: v >= 75))
    for mode in ("json", "stream"):
        share = _pct(_find(run, budget, mode, 16), _find(run, floor, mode, 16))
        checks.append((f"{mode}, hard budget + RPM: >= 65 % (%)", share, lambda v: v >= 65))
    on1, floor1 = _find(run, on, "json", 1), _find(run, floor, "json", 1)
    checks += [
        ("p50 added over pass-through <= 0.5 ms at c=1", _added(on1, floor1, "p50_ms"),
         lambda v: v <= 0.5),
        ("p99 added over pass-through <= 2 ms at c=1", _added(on1, floor1, "p99_ms"),
         lambda v: v <= 2),
    ]  # fmt: skip
    for mode in ("json", "stream"):
        many = _pct(_find(run, workers, mode, 16), _find(run, on, mode, 16)) if workers else None
        checks.append(
            (f"{mode}: {n} workers >= 1.7x one at c=16 (x)",
             None if many is None else many / 100, lambda v: v >= 1.7)
        )  # fmt: skip
    checks.append(("peak RSS < 150 MB (one worker, MB)", rss.get(on), lambda v: v < 150))
    if workers and workers in rss:
        checks.append((f"peak RSS per worker < 150 MB ({n}, MB)", rss[workers] / n,
                       lambda v: v < 150))  # fmt: skip
    lines = ["Targets (issue #23; spendscope with recording on, shares of the pass-through):"]
    for label, value, passes in checks:
        verdict = "n/a" if value is None else ("PASS" if passes(value) else "MISS")
        lines.append(f"  {verdict:5}  {label:48} {'n/a' if value is None else f'{value:.2f}'}")
    return lines


def report(run: Run, parts: dict[str, list[tuple[str, float]]], args: argparse.Namespace) -> None:
    rss = {name: sum(mb for _, mb in procs) for name, procs in parts.items()}
    print(f"\nspendscope gateway bench — {os.cpu_count()} cores; load: wrk (1 thread); median of "
          f"{args.rounds} x {args.seconds} s per cell; +p50/+p99: added vs direct\n")  # fmt: skip
    print(table(run))
    print("\nPeak RSS (VmHWM, process tree):")
    for name, mb in rss.items():
        each = " + ".join(f"{proc} {part:.1f}" for proc, part in parts[name])
        print(f"  {name:30} {mb:7.1f} MB" + (f"  ({each})" if len(parts[name]) > 1 else ""))
    print()
    print("\n".join(targets(run, rss)))
    for note in [*run.notes, f"host load average (1 min) at end: {os.getloadavg()[0]:.1f}"]:
        print(f"note: {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Gateway overhead bench (prints a table).")
    parser.add_argument("--quick", action="store_true", help="Short cells (smoke run).")
    parser.add_argument("--seconds", type=int, default=3, help="Seconds per cell and round.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds per cell (median kept).")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--passthrough", nargs="+", default=["asgi"], choices=("asgi", "aiohttp"))
    parser.add_argument("--recording-off-env", help="NAME=VALUE that turns recording off.")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=TREE",
        help="Also run spendscope (recording on) from another source tree "
        "(a directory holding collector/, migrations/ and alembic.ini), e.g. "
        "the code before a change: before/after side by side in one run.",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="LABEL=NAME=VALUE",
        help="Also run spendscope (recording on) with one more setting, e.g. "
        "fsync=SPENDSCOPE_RECORDER_DURABILITY=fsync.",
    )
    parser.add_argument(
        "--tpm-key", action="store_true",
        help="Also with a TPM-limited key (and so each --variant).",
    )  # fmt: skip
    parser.add_argument(
        "--hard-budget",
        action="store_true",
        help="Also with a hard budget on the project and an RPM limit on the key (and so "
        "each --variant).",
    )
    parser.add_argument(
        "--workers", type=int, default=0, metavar="N",
        help="Also spendscope serve --workers N (N > 1), for the N-worker target.",
    )  # fmt: skip
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--pause", type=float, default=0.5, help="Seconds between cells.")
    parser.add_argument("--keep", action="store_true", help="Keep the work dir (logs, DBs).")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = min(args.seconds, 2), 1
    if shutil.which("wrk") is None:
        sys.exit("bench_gateway needs wrk as its load generator: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="spendscope-bench-"))
    run = Run(notes=[f"host load average (1 min) at start: {os.getloadavg()[0]:.1f}"])
    try:
        start_all(run, work, args)
        measure(run, args)
        rss = {s.name: peak_rss_parts(s.proc.pid) for s in run.servers if s.proc}
    finally:
        for server in run.servers:
            stop(server)
    report(run, rss, args)
    if args.keep:
        print(f"work dir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
