"""``spendscope demo``: run mock upstream, gateway and dashboard with history and live traffic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from collector.cli.common import fail


def demo(
    no_traffic: Annotated[
        bool, typer.Option("--no-traffic", help="Do not send live traffic (history only).")
    ] = False,
    duration: Annotated[
        float | None, typer.Option(min=1, help="Stop by itself after this many seconds.")
    ] = None,
    rate: Annotated[
        float, typer.Option(min=0.1, max=200, help="Live requests per second (on average).")
    ] = 3.0,
    days: Annotated[int, typer.Option(min=1, max=90, help="Days of history to backfill.")] = 30,
    db: Annotated[
        Path, typer.Option(help="Demo SQLite file (replaced on each run; spool and logs beside).")
    ] = Path("spendscope-demo.db"),
    gateway_port: Annotated[int, typer.Option(min=1, max=65535, help="Gateway port.")] = 8787,
    dashboard_port: Annotated[int, typer.Option(min=1, max=65535, help="Dashboard port.")] = 8050,
    mock_port: Annotated[int, typer.Option(min=1, max=65535, help="Mock upstream port.")] = 8799,
    headless: Annotated[
        bool, typer.Option("--headless", help="Plain log lines, no live display or browser.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the generated history and traffic.")] = 7,
) -> None:
    """Run the whole product locally: mock OpenAI, gateway, dashboard, history, live traffic."""
    from collector.demo import DemoError, DemoOptions, run_demo

    ports = {gateway_port, dashboard_port, mock_port}
    if len(ports) != 3:
        fail("--gateway-port, --dashboard-port and --mock-port must differ")
    options = DemoOptions(
        db=db, days=days, traffic=not no_traffic, duration=duration, rate=rate,
        gateway_port=gateway_port, dashboard_port=dashboard_port, mock_port=mock_port,
        headless=headless, seed=seed,
    )  # fmt: skip
    try:
        code = run_demo(options, Console(highlight=False))
    except DemoError as exc:
        fail(str(exc), code=1)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to the ``spendscope`` CLI."""
    app.command("demo")(demo)
