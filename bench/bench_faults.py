"""What each fault costs the ledger: requests answered against rows stored, per scenario.

The fault suite's scenarios (``tests/faults/``) under longer, heavier load: ``--concurrency``
official-SDK clients for ``--seconds``, a fault a third of the way in, and afterwards the
requests the clients saw answered (by ``x-spendscope-request-id``) against the rows in
``requests``. ``--variant PATH`` runs the same against another checkout (its own
``.venv`` if it has one) in the same run, plus each variant's plain throughput measured
with ``wrk`` (no fault), so the cost of a new hand-off shows beside what it buys::

    .venv/bin/python bench/bench_faults.py --seconds 10 --scenario none kill-gateway
    .venv/bin/python bench/bench_faults.py --db postgresql --variant /tmp/before

A table, never a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import Server  # sibling modules, not a package
from bench_gateway import wrk_cell

from tests.faults._harness import (
    MODEL,
    Gateway,
    Launcher,
    Load,
    LoadResult,
    MockUpstream,
    Outage,
    normal_request,
    send_each,
    stored_ids,
    tmpfs,
)

SCENARIOS = ("none", "kill-gateway", "kill-writer", "sigterm", "outage", "outage-kill",
             "full-disk", "poison")  # fmt: skip
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Row:
    variant: str
    scenario: str
    result: LoadResult
    stored: int
    recovery_s: float | None
    rps: float

    @property
    def lost(self) -> int:
        return len(self.result.answered) - self.stored


@dataclass
class Stage:
    """One scenario's running pieces, handed to its fault."""

    gateway: Gateway
    outage: Outage
    key: str
    load: Load
    spool_disk: Path | None


@contextlib.contextmanager
def fresh_database(kind: str, work: Path, pg_url: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{work / 'bench.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg_url else "?"
    try:
        yield f"{pg_url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# --- faults: each returns when the fault has ended -----------------------------------------


def _restart(stage: Stage) -> None:
    stage.gateway.wait_group_gone(15)
    stage.gateway.start()


def fault_kill_gateway(stage: Stage, _length: float) -> None:
    stage.gateway.kill()
    _restart(stage)


def fault_kill_writer(stage: Stage, _length: float) -> None:
    os.kill(stage.gateway.writer_pid(), signal.SIGKILL)


def fault_sigterm(stage: Stage, _length: float) -> None:
    stage.gateway.terminate(60)
    stage.gateway.start()


def fault_outage(stage: Stage, length: float) -> None:
    stage.outage.cut()
    time.sleep(length)
    stage.outage.restore()


def fault_outage_kill(stage: Stage, length: float) -> None:
    stage.outage.cut()
    time.sleep(length / 2)
    stage.gateway.kill()
    stage.gateway.wait_group_gone(15)
    time.sleep(length / 2)
    stage.outage.restore()
    stage.gateway.start()


def fault_poison(stage: Stage, _length: float) -> None:
    deep = '{"a":' + "[" * 1000 + "]" * 1000 + "}"
    poison = [
        normal_request() | {"extra_headers": {"x-spendscope-metadata": deep}},
        normal_request() | {"user": "al\x00ice"},
        normal_request() | {"model": f"{MODEL}-" + "x" * 288},
    ]
    result, _ = send_each(stage.gateway.base_url, stage.key, poison)
    stage.load.result.answered |= result.answered
    stage.load.result.sent += result.sent


FAULTS: dict[str, Callable[[Stage, float], None]] = {
    "none": lambda _stage, _length: None,
    "kill-gateway": fault_kill_gateway,
    "kill-writer": fault_kill_writer,
    "sigterm": fault_sigterm,
    "outage": fault_outage,
    "outage-kill": fault_outage_kill,
    "full-disk": fault_outage,
    "poison": fault_poison,
}


class Recovery:
    """Seconds from the fault's end until every request answered before it is a row."""

    def __init__(self, rows_url: str, answered: set[str], limit_s: float) -> None:
        self.started = time.monotonic()
        self.seconds: float | None = None
        self._rows_url, self._answered, self._limit = rows_url, set(answered), limit_s
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while time.monotonic() - self.started < self._limit:
            with contextlib.suppress(Exception):
                if self._answered <= stored_ids(self._rows_url):
                    self.seconds = time.monotonic() - self.started
                    return
            time.sleep(0.25)

    def wait(self) -> float | None:
        self._thread.join()
        return self.seconds


def run_scenario(
    name: str, launcher: Launcher, args: argparse.Namespace, upstream: str, work: Path
) -> Row:
    with contextlib.ExitStack() as stack:
        rows_url = stack.enter_context(fresh_database(args.db, work, args.pg_url))
        outage = Outage(rows_url)
        stack.callback(outage.close)
        disk = None
        if name == "full-disk":
            disk = stack.enter_context(tmpfs(work / "spool-disk", "64k"))
        gateway = Gateway(work, outage.gateway_url, upstream,
                          (disk or work) / "spool", launcher)  # fmt: skip
        key = gateway.create_key()
        gateway.start()
        stack.callback(gateway.stop)
        send_each(gateway.base_url, key, [normal_request()])  # caches the key
        third = args.seconds / 3
        started = time.monotonic()
        with Load(gateway.base_url, key, args.concurrency) as load:
            time.sleep(third)
            FAULTS[name](Stage(gateway, outage, key, load, disk), third)
            recovery = Recovery(rows_url, load.result.answered, args.settle)
            time.sleep(max(0.0, args.seconds - (time.monotonic() - started)))
        elapsed = time.monotonic() - started
        result = load.result
        recovered = recovery.wait()
        with contextlib.suppress(Exception):  # wait for the rest, as an operator would
            deadline = time.monotonic() + (10 if recovered is not None else 0)
            while not result.answered <= stored_ids(rows_url) and time.monotonic() < deadline:
                time.sleep(0.5)
        stored = len(result.answered & stored_ids(rows_url))
        return Row(launcher.tree.name, name, result, stored, recovered,
                   len(result.answered) / elapsed)  # fmt: skip


def plain_throughput(launcher: Launcher, args: argparse.Namespace, upstream: str,
                     work: Path) -> tuple[float, float, int, int]:  # fmt: skip
    """(req/s, p50 ms, wrk's completed requests, rows stored) with wrk, no fault."""
    with fresh_database(args.db, work, args.pg_url) as url:
        gateway = Gateway(work, url, upstream, work / "spool", launcher)
        key = gateway.create_key()
        gateway.start()
        try:
            rps, p50, _p99, requests, _errors = wrk_cell(
                Server(launcher.tree.name, gateway.base_url, key), False, args.concurrency,
                int(args.seconds),
            )  # fmt: skip
            deadline = time.monotonic() + 60
            while len(stored_ids(url)) < requests and time.monotonic() < deadline:
                time.sleep(0.5)
            return rps, p50, int(requests), len(stored_ids(url))
        finally:
            gateway.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--scenario", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("SPENDSCOPE_TEST_POSTGRES_URL",
                                                           DEFAULT_PG))  # fmt: skip
    parser.add_argument("--variant", action="append", default=[], metavar="PATH",
                        help="another checkout to run the same against (repeatable)")  # fmt: skip
    parser.add_argument("--settle", type=float, default=60.0,
                        help="longest wait for every answered request to be a row")  # fmt: skip
    parser.add_argument("--no-wrk", action="store_true", help="skip the plain-throughput rows")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if "full-disk" in args.scenario and os.geteuid() != 0:
        args.scenario.remove("full-disk")
        print("full-disk needs root (mount -t tmpfs): skipped", file=sys.stderr)
    launchers = [Launcher(), *(Launcher.for_tree(Path(v)) for v in args.variant)]
    root = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    mock = MockUpstream(root)
    rows: list[Row] = []
    plain: dict[str, tuple[float, float, int, int]] = {}
    try:
        for scenario in args.scenario:  # variants interleaved, scenario by scenario
            for launcher in launchers:
                work = Path(tempfile.mkdtemp(dir=root))
                rows.append(run_scenario(scenario, launcher, args, mock.base_url, work))
        if not args.no_wrk and shutil.which("wrk"):
            for launcher in launchers:
                work = Path(tempfile.mkdtemp(dir=root))
                plain[launcher.tree.name] = plain_throughput(launcher, args, mock.base_url, work)
    finally:
        mock.stop()
        shutil.rmtree(root, ignore_errors=True)
    report(rows, plain, args)


def report(
    rows: list[Row], plain: dict[str, tuple[float, float, int, int]], args: argparse.Namespace
) -> None:
    load = os.getloadavg()
    title = (f"faults: {args.db}, c={args.concurrency}, {args.seconds:g} s per scenario, "
             f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    table = Table(title=title)
    for column in ("variant", "scenario", "sent", "answered", "stored", "lost",
                   "gateway 5xx", "recovery s", "answered/s"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("variant", "scenario") else "right")
    for row in rows:
        recovery = "-" if row.recovery_s is None else f"{row.recovery_s:.1f}"
        table.add_row(row.variant, row.scenario, str(row.result.sent),
                      str(len(row.result.answered)), str(row.stored), str(row.lost),
                      str(row.result.gateway_5xx), recovery, f"{row.rps:.0f}")  # fmt: skip
    console = Console(width=160)
    console.print(table)
    if plain:
        wrk = Table(title=f"plain throughput (wrk, c={args.concurrency}, no fault, {args.db})")
        for column in ("variant", "req/s", "p50 ms", "completed", "rows stored"):
            wrk.add_column(column, justify="left" if column == "variant" else "right")
        for name, (rps, p50, done, stored) in plain.items():
            wrk.add_row(name, f"{rps:.0f}", f"{p50:.1f}", str(done), str(stored))
        console.print(wrk)
    console.print("recovery s: from the fault's end until every request answered before it "
                  f"is a row ('-': not within --settle {args.settle:g} s). lost = answered - "
                  "stored, counted once all arrived or --settle passed.")  # fmt: skip


if __name__ == "__main__":
    main()
