"""The ``spendscope`` command line: one Typer app; each domain registers its own commands.

Each ``collector/cli/<domain>.py`` exposes ``register(app: typer.Typer) -> None`` and is
listed in ``_DOMAINS`` below with the top-level commands it adds. Importing a domain module
must stay cheap (no I/O). A run imports only the domain that owns the command it was given
(``spendscope serve`` never imports the report or dashboard commands); help, no command or an
unknown one gets the whole app. ``app`` (the whole app) is built on first use.
"""

from __future__ import annotations

import importlib
import sys

import typer

from collector.secrets import install_log_redaction

# Domain command modules and the top-level commands each registers, in this order.
_DOMAINS: dict[str, tuple[str, ...]] = {
    "collector.cli.db": ("db",),
    "collector.cli.config": ("config",),
    "collector.cli.tokens": ("tokens",),
    "collector.cli.pricing": ("cost", "prices"),
    "collector.cli.mock_upstream": ("mock-upstream",),
    "collector.cli.keys": ("keys",),
    "collector.cli.upstream_keys": ("upstream-keys",),
    "collector.cli.batches": ("batches",),
    "collector.cli.logs": ("logs",),
    "collector.cli.budgets": ("budgets",),
    "collector.cli.alerts": ("alerts",),
    "collector.cli.dashboard": ("dashboard",),
    "collector.cli.report": ("report",),
    "collector.cli.reconcile": ("reconcile",),
    "collector.cli.serve": ("serve",),
    "collector.cli.demo": ("demo",),
    "collector.cli.otel": ("otel",),
    "collector.cli.spool": ("spool",),
}
_OWNER = {command: domain for domain, commands in _DOMAINS.items() for command in commands}


def _new_app() -> typer.Typer:
    return typer.Typer(
        name="spendscope",
        help="Usage observability and cost analytics for OpenAI-API traffic.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )


def build_app(domains: tuple[str, ...] = tuple(_DOMAINS)) -> typer.Typer:
    """A Typer app holding the commands of ``domains`` (all of them by default)."""
    built = _new_app()
    if len(domains) < len(_DOMAINS):
        # a group, even with one command: ``spendscope serve`` stays a subcommand
        built.callback()(_group)
    for name in domains:
        importlib.import_module(name).register(built)
    return built


def _group() -> None:
    """The group's own callback: nothing to do before a subcommand."""


def app_for(args: list[str]) -> typer.Typer:
    """The app a run with these arguments needs: the owning domain's commands only, or all."""
    owner = _OWNER.get(args[0]) if args else None
    return build_app() if owner is None else build_app((owner,))


_app: typer.Typer | None = None


def __getattr__(name: str) -> typer.Typer:
    """``collector.cli.app``: the whole app, built (every domain imported) on first use."""
    global _app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _app is None:
        _app = build_app()
    return _app


def main() -> None:
    """Console-script entry point."""
    install_log_redaction()
    app_for(sys.argv[1:])()
