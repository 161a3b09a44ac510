"""The ``spendscope`` command line: one Typer app; each domain registers its own commands.

Each ``collector/cli/<domain>.py`` exposes ``register(app: typer.Typer) -> None`` and is
listed in ``_DOMAINS`` below. Importing a domain module must stay cheap (no I/O).
"""

from __future__ import annotations

import importlib

import typer

from collector.secrets import install_log_redaction

app = typer.Typer(
    name="spendscope",
    help="Usage observability and cost analytics for OpenAI-API traffic.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Domain command modules, registered in this order (one line each).
_DOMAINS: tuple[str, ...] = (
    "collector.cli.db",
    "collector.cli.config",
    "collector.cli.tokens",
    "collector.cli.pricing",
    "collector.cli.mock_upstream",
    "collector.cli.keys",
    "collector.cli.upstream_keys",
    "collector.cli.batches",
    "collector.cli.logs",
    "collector.cli.budgets",
    "collector.cli.alerts",
    "collector.cli.dashboard",
    "collector.cli.report",
    "collector.cli.reconcile",
    "collector.cli.serve",
    "collector.cli.demo",
    "collector.cli.otel",
    "collector.cli.spool",
)


def _register_all() -> None:
    for name in _DOMAINS:
        module = importlib.import_module(name)
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    install_log_redaction()
    app()
