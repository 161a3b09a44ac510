"""``spendscope demo``, start to finish: the order of things and who stops whom.

1. A fresh SQLite database (schema by ``upgrade_head``); ports checked before anything starts.
2. The mock upstream, the gateway and the dashboard start as child processes while, in this
   process, the demo keys, ~30 days of history (through ``write_batch``), budgets and alert
   rules are created. Each child is health-checked with a bounded wait.
3. The URLs and the login are printed; live traffic goes through the gateway with the
   official SDK; the alert evaluator runs here (a JSONL file channel); progress is shown.
4. Ctrl-C, SIGTERM or ``--duration`` stop it: traffic (in-flight requests finish), gateway
   (SIGTERM, its recorder drains; it must exit 0), dashboard, mock. Then the live rows are
   checked against what the client was answered, and a summary is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
import threading
import time
import webbrowser
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from sqlalchemy import Engine

from collector.alerts import AlertEvaluator
from collector.budgets import BudgetSpec
from collector.db import make_engine
from collector.demo._backfill import BackfillReport, backfill
from collector.demo._bill import Tally, bill_settings, book, reconcile_days, summary
from collector.demo._console import (
    Access,
    Recorded,
    access_panel,
    progress_line,
    progress_table,
    try_it,
)
from collector.demo._database import prepare_database, recorded_since
from collector.demo._history import generate_history
from collector.demo._procs import DemoError, check_port_free
from collector.demo._report import final_report
from collector.demo._requests import expected_cost
from collector.demo._setup import (
    DemoKeys,
    budget_plans,
    create_demo_budgets,
    create_demo_keys,
    create_demo_rules,
)
from collector.demo._stack import (
    DEMO_USER,
    HOST,
    READY_S,
    UPSTREAM_KEY,
    Paths,
    Ports,
    Stack,
    dashboard_child,
    dashboard_login,
    gateway_child,
    mock_child,
)
from collector.demo._traffic import Traffic
from collector.errors import SpendscopeError
from collector.settings import Settings, load_settings

# The live-traffic budget holds ~60 s of expected spend (less for a short --duration), so its
# 50/80/100 % thresholds are crossed while someone watches. Expected: no prompt caching (high).
LIVE_BUDGET_S = 60.0
ALERT_INTERVAL_S = 3.0


@dataclass(frozen=True, slots=True)
class DemoOptions:
    db: Path = Path("spendscope-demo.db")
    days: int = 30
    traffic: bool = True
    duration: float | None = None
    rate: float = 3.0
    gateway_port: int = 8787
    dashboard_port: int = 8050
    mock_port: int = 8799
    headless: bool = False
    seed: int = 7


class Interrupted(Exception):
    """Raised between history batches when the demo is asked to stop while starting."""


@dataclass(frozen=True, slots=True)
class Populated:
    keys: DemoKeys
    history: BackfillReport
    budgets: list[BudgetSpec]
    rules: list[str]
    history_end: datetime
    bill: list[dict[str, Any]]  # the history's bookings for the mock's ledger


def run_demo(options: DemoOptions, console: Console) -> int:
    """Run the whole demo; the exit code (0 = everything started, ran and stopped cleanly)."""
    demo = _Demo(options, console)
    with _logging_to(demo.paths.logs / "demo.log"):
        return asyncio.run(demo.main())


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """This process's own log lines (pricing, alert evaluator) go to a file, not the screen."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root, quiet = logging.getLogger(), logging.getLogger("httpx")  # httpx: a line per request
    levels = root.level, quiet.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    quiet.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(levels[0])
        quiet.setLevel(levels[1])


class _Demo:
    def __init__(self, options: DemoOptions, console: Console) -> None:
        self.opts = options
        self.console = console
        self.paths = Paths.beside(options.db)
        self.ports = Ports(options.gateway_port, options.dashboard_port, options.mock_port)
        mock_url = f"http://{HOST}:{options.mock_port}/v1"
        self.settings: Settings = load_settings(
            database_url=self.paths.url, spool_dir=self.paths.spool, timezone="UTC",
            **bill_settings(mock_url, UPSTREAM_KEY),
        )  # fmt: skip
        self.stack = Stack()
        self.abort = threading.Event()
        self.problems: list[str] = []
        self.engine: Engine | None = None
        self.stop = asyncio.Event()
        self.password = secrets.token_urlsafe(9)

    async def main(self) -> int:
        self.stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        populated: Populated | None = None
        traffic: Traffic | None = None
        try:
            populated = await self._start()
            if populated is not None:
                traffic = await self._live(populated)
                if traffic is not None:  # the live traffic's faults show as differences
                    await asyncio.to_thread(self._reconcile, populated, "live traffic")
        except SpendscopeError as exc:  # DemoError, or a setup step refused (one line)
            self.problems.append(str(exc))
            self.console.print(f"[bold red]error:[/] {exc}")
        finally:
            self.abort.set()
            await self.stack.stop_all()
            await self._finish(populated, traffic)
        return 1 if self.problems else 0

    # --- start -------------------------------------------------------------------------
    async def _start(self) -> Populated | None:
        with self._status("starting mock upstream, gateway and dashboard; writing history…"):
            await self._spawn()
            ready = [c.wait_ready(READY_S[c.name]) for c in self.stack.children]
            work = asyncio.gather(asyncio.gather(*ready), asyncio.to_thread(self._populate))
            result = await self._unless_stopped(work)
        if result is None:
            self.console.print("stopped while starting; shutting everything down…")
            return None
        _, populated = result
        self._report_history(populated.history)
        await asyncio.to_thread(self._reconcile, populated, "history")
        return populated

    def _reconcile(self, populated: Populated | None, what: str) -> None:
        """Book the history in the mock's bill (once), fetch the bill and compare: one line."""
        assert self.engine is not None  # noqa: S101 - type narrowing: set when the demo starts
        if populated is None:
            return
        if what == "history":
            book(self.settings.openai_admin_base_url, populated.bill)
        end = datetime.now(UTC).date()
        start = (populated.history_end - timedelta(days=self.opts.days)).date()
        try:
            rec = reconcile_days(self.engine, self.settings, start, end)
        except SpendscopeError as exc:
            self.problems.append(f"reconciliation of the {what} failed: {exc}")
            return
        self.console.print(summary(rec), highlight=False, soft_wrap=True)

    async def _spawn(self) -> None:
        """Ports first (the database is not touched if one is taken); slow steps overlap."""
        for name, port in (("gateway", self.ports.gateway), ("dashboard", self.ports.dashboard),
                           ("mock", self.ports.mock)):  # fmt: skip
            check_port_free(name, HOST, port)
        cwd = self.paths.logs
        cwd.mkdir(parents=True, exist_ok=True)
        login = asyncio.create_task(dashboard_login(self.password, self.paths))
        try:
            self.stack.start(mock_child(self.ports, self.paths), cwd)
            await asyncio.to_thread(prepare_database, self.paths)
        except BaseException:
            await asyncio.gather(login, return_exceptions=True)
            raise
        self.engine = make_engine(self.paths.url)
        self.stack.start(gateway_child(self.ports, self.paths), cwd)
        self.stack.start(dashboard_child(self.ports, self.paths, await login), cwd)

    async def _unless_stopped(
        self, work: asyncio.Future[tuple[list[float], Populated]]
    ) -> tuple[list[float], Populated] | None:
        stopper: asyncio.Future[Any] = asyncio.ensure_future(self.stop.wait())
        pending: list[asyncio.Future[Any]] = [work, stopper]
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if work.done():
            return work.result()
        self.abort.set()  # the history thread stops at its next batch
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError, Interrupted, DemoError):
            await work
        return None

    def _populate(self) -> Populated:
        assert self.engine is not None  # noqa: S101 - type narrowing: set when the demo starts
        now = datetime.now(UTC)
        keys = create_demo_keys(self.engine, now)
        events = generate_history(
            keys.keys, start=now - timedelta(days=self.opts.days), end=now, seed=self.opts.seed
        )
        tally = Tally()
        report = backfill(self.engine, tally.watch(events), progress=self._check_abort)
        plans = budget_plans(keys.prefixes, self._live_budget(now))
        budgets = create_demo_budgets(self.engine, plans, datetime.now(UTC), self.settings.timezone)
        rules = create_demo_rules(self.engine, self.settings, self.paths.alerts, now)
        return Populated(keys, report, budgets, rules, now, tally.bookings(UPSTREAM_KEY))

    def _live_budget(self, now: datetime) -> Decimal:
        """The live budget: 45 s of the expected spend; a run with a ``--duration`` gets a
        quarter of it (at most 60 s), so its thresholds are crossed early even when a busy
        host sends far below ``--rate``."""
        duration = self.opts.duration
        seconds = 0.75 * LIVE_BUDGET_S if duration is None else min(LIVE_BUDGET_S, duration / 4)
        amount = expected_cost(now) * Decimal(str(self.opts.rate)) * Decimal(str(seconds))
        return max(Decimal("0.01"), amount.quantize(Decimal("0.01")))

    def _check_abort(self, _written: int) -> None:
        if self.abort.is_set():
            raise Interrupted

    def _status(self, text: str) -> contextlib.AbstractContextManager[object]:
        if self.opts.headless:
            self.console.print(text)
            return contextlib.nullcontext()
        return self.console.status(text)

    def _report_history(self, h: BackfillReport) -> None:
        self.console.print(
            f"history: {h.events:,} requests ({h.attempts:,} attempts) over {self.opts.days} days, "
            f"${h.cost_usd:,.2f}, written through the recorder in {h.seconds:.1f} s "
            f"({h.events_per_s:,.0f} events/s)"
        )

    # --- live --------------------------------------------------------------------------
    async def _live(self, populated: Populated) -> Traffic | None:
        assert self.engine is not None  # noqa: S101 - type narrowing: set when the demo starts
        access = self._access(populated)
        self.console.print(access_panel(access))
        self.console.print(try_it(access), soft_wrap=True, style="dim", markup=False)
        self._open_browser(access.dashboard_url)
        evaluator = AlertEvaluator(self.engine, self.settings)
        eval_task = asyncio.create_task(evaluator.run_forever(interval=ALERT_INTERVAL_S))
        traffic = self._traffic(populated) if self.opts.traffic else None
        if traffic is None:
            self.console.print("no live traffic (--no-traffic); Ctrl-C stops the demo")
        traffic_task = asyncio.create_task(traffic.run(self.stop)) if traffic else None
        if self.opts.duration is not None:
            asyncio.get_running_loop().call_later(self.opts.duration, self.stop.set)
        try:
            await self._watch(traffic, populated.history_end)
            if traffic_task is not None:
                await traffic_task
        finally:
            eval_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await eval_task
        return traffic

    def _traffic(self, populated: Populated) -> Traffic:
        base_url = f"http://{HOST}:{self.ports.gateway}/v1"
        return Traffic(base_url, populated.keys.raw, self.opts.rate, self.opts.seed)

    def _access(self, populated: Populated) -> Access:
        return Access(
            dashboard_url=f"http://{HOST}:{self.ports.dashboard}/",
            gateway_url=f"http://{HOST}:{self.ports.gateway}/v1",
            metrics_url=f"http://{HOST}:{self.ports.gateway}/metrics",
            mock_url=f"http://{HOST}:{self.ports.mock}/v1",
            user=DEMO_USER, password=self.password,
            sample_key=populated.keys.raw["search-api"],
            alerts_file=self.paths.alerts, logs_dir=self.paths.logs, db_path=self.paths.db,
        )  # fmt: skip

    def _open_browser(self, url: str) -> None:
        graphical = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        if not self.opts.headless and (graphical or sys.platform in ("darwin", "win32")):
            with contextlib.suppress(webbrowser.Error):
                webbrowser.open(url)

    async def _watch(self, traffic: Traffic | None, since: datetime) -> None:
        """Show progress until stopped: traffic counters plus what the database holds."""
        assert self.engine is not None  # noqa: S101 - type narrowing: set when the demo starts
        t0, rec, last_poll, last_line = time.monotonic(), Recorded(), 0.0, 0.0
        live = None if self.opts.headless or traffic is None else Live(console=self.console)
        with live or contextlib.nullcontext():
            while not self.stop.is_set():
                now = time.monotonic()
                if now - last_poll >= 2:
                    rec, last_poll = (
                        await asyncio.to_thread(recorded_since, self.engine, since),
                        now,
                    )
                if traffic is not None and live is not None:
                    live.update(progress_table(now - t0, traffic.stats, rec))
                elif traffic is not None and now - last_line >= 5:
                    self.console.print(progress_line(now - t0, traffic.stats, rec))
                    last_line = now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), 0.5)
        self.console.print("stopping: traffic → gateway → dashboard → mock upstream…")

    # --- finish ------------------------------------------------------------------------
    async def _finish(self, populated: Populated | None, traffic: Traffic | None) -> None:
        if self.engine is None:
            return
        try:
            if populated is not None:
                evaluator = AlertEvaluator(self.engine, self.settings)
                with contextlib.suppress(Exception):
                    await evaluator.evaluate_once(datetime.now(UTC))
                ok = await asyncio.to_thread(
                    final_report, self.console, self.engine, self.paths, populated.history_end,
                    traffic.stats if traffic else None, self.stack.exit_codes, self.problems,
                )  # fmt: skip
                if not ok and not self.problems:
                    self.problems.append("final checks failed")
        finally:
            self.engine.dispose()
