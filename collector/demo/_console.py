"""What the demo shows in the terminal: the URLs and login, live progress, a final summary."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from collector.demo._traffic import TrafficStats


@dataclass(frozen=True, slots=True)
class Access:
    """Where everything runs and how to get in (printed once everything is ready)."""

    dashboard_url: str
    gateway_url: str
    metrics_url: str
    mock_url: str
    user: str
    password: str
    sample_key: str
    alerts_file: Path
    logs_dir: Path
    db_path: Path

    @property
    def database_url(self) -> str:
        """The URL every other ``spendscope`` command needs to read the demo's database."""
        return f"sqlite:///{self.db_path.resolve()}"


def access_panel(a: Access) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    grid.add_row("Dashboard", f"{a.dashboard_url}   login: {a.user} / {a.password}")
    grid.add_row("Gateway", f"{a.gateway_url}   (OpenAI-compatible base_url)")
    grid.add_row("Metrics", f"{a.metrics_url}   (Prometheus)")
    grid.add_row("Demo key", a.sample_key)
    grid.add_row("Mock OpenAI", a.mock_url)
    grid.add_row("Database", f"{a.database_url}   (SPENDSCOPE_DATABASE_URL: see below)")
    grid.add_row("Alerts", f"{a.alerts_file}  (JSONL file channel)")
    grid.add_row("Logs", str(a.logs_dir))
    return Panel(grid, title="spendscope demo is running", expand=False)


def _commands() -> tuple[str, str]:
    """The Python and ``spendscope`` that run this demo, so the lines work outside a venv."""
    python = Path(sys.executable)
    script = python.parent / "spendscope"
    quoted = shlex.quote(str(python))
    return quoted, shlex.quote(str(script)) if script.exists() else f"{quoted} -m collector"


def try_it(a: Access) -> str:
    """Copy-pasteable lines (printed unwrapped): one request through the gateway, then its log."""
    python, cli = _commands()
    call = (
        "from openai import OpenAI; print(OpenAI().chat.completions.create(model='gpt-4o-mini', "
        "messages=[{'role': 'user', 'content': 'hello'}]).usage)"
    )
    return (
        f"Try it:\n  export OPENAI_BASE_URL={a.gateway_url} OPENAI_API_KEY={a.sample_key}\n"
        f'  {python} -c "{call}"\n'
        f"  export SPENDSCOPE_DATABASE_URL={a.database_url}\n"
        f"  {cli} logs"
    )


@dataclass(frozen=True, slots=True)
class Recorded:
    """Live rows the gateway has written so far, their spend, and alerts fired."""

    rows: int = 0
    spend_usd: Decimal = Decimal(0)
    retried: int = 0
    alerts: int = 0
    last_alert: str = ""


def progress_table(elapsed_s: float, stats: TrafficStats, rec: Recorded) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    grid.add_row(
        "client",
        f"sent {stats.sent} · ok {stats.ok} · upstream errors {stats.upstream_errors} · "
        f"client errors {stats.client_errors} · blocked {stats.blocked} · "
        f"scripted faults {stats.faulted}",
    )
    grid.add_row(
        "recorded", f"{rec.rows} rows · {rec.retried} retried · ${rec.spend_usd:.4f} spent"
    )
    grid.add_row(
        "alerts", f"{rec.alerts} fired" + (f" · last: {rec.last_alert}" if rec.alerts else "")
    )
    title = f"live traffic through the gateway — {elapsed_s:.0f} s (Ctrl-C stops)"
    return Panel(grid, title=title, title_align="left")


def progress_line(elapsed_s: float, stats: TrafficStats, rec: Recorded) -> str:
    return (
        f"[{elapsed_s:5.0f} s] sent {stats.sent}, ok {stats.ok}, errors {stats.errors} "
        f"(blocked {stats.blocked}), recorded {rec.rows} ({rec.retried} retried), "
        f"spend ${rec.spend_usd:.4f}, alerts {rec.alerts}"
    )


def summary(console: Console, lines: Sequence[tuple[str, str]], ok: bool) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, value in lines:
        grid.add_row(label, value)
    title = "demo stopped cleanly" if ok else "demo stopped with problems"
    console.print(Panel(grid, title=title, border_style="green" if ok else "red", expand=False))
