"""``spendscope dashboard``: serve the web dashboard (its own process); hash login passwords.

The dashboard package is imported only when the command runs, so the CLI stays cheap to
start and the gateway never loads Dash.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from typing import Annotated, Any

import click
import typer
from typer.core import TyperCommand, TyperGroup

from collector.cli.common import fail, settings_or_exit
from collector.errors import SettingsError


def _usage_errors() -> tuple[type[Exception], ...]:
    """Click's UsageError, and the copy newer Typer versions vendor."""
    found: list[type[Exception]] = [click.UsageError]
    with contextlib.suppress(ImportError):
        from typer._click.exceptions import UsageError

        found.append(UsageError)
    return tuple(found)


_USAGE_ERRORS = _usage_errors()


def _one_line(exc: Exception) -> str:
    message = getattr(exc, "format_message", lambda: str(exc))()
    return f"spendscope dashboard: {' '.join(str(message).split())}"


class _OneLineErrors(TyperGroup):
    """Bad flags or values print one ``error:`` line and exit 2, not a usage box."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except _USAGE_ERRORS as exc:
            fail(_one_line(exc))

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except _USAGE_ERRORS as exc:
            fail(_one_line(exc))


class _OneLineCommandErrors(TyperCommand):
    """The same for the subcommands."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except _USAGE_ERRORS as exc:
            fail(_one_line(exc))


dashboard_app = typer.Typer(
    cls=_OneLineErrors,
    help="The web dashboard: spend, reliability, latency and the request log.",
    invoke_without_command=True,
)


def _serve(app: Any, host: str, port: int) -> None:
    try:
        waitress = importlib.import_module("waitress")
    except ImportError:
        app.run(host=host, port=port, debug=False)
        return
    waitress.serve(app.server, host=host, port=port, threads=8, ident="spendscope")


@dashboard_app.callback()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Address to listen on (default from SPENDSCOPE_DASHBOARD_HOST).",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            metavar="PORT",
            help="Port to listen on (default from SPENDSCOPE_DASHBOARD_PORT).",
        ),
    ] = None,
) -> None:
    """Serve the dashboard (login required unless anonymous access is configured)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_or_exit()
    from dashboard import create_dash_app

    try:
        app = create_dash_app(settings)
    except SettingsError as exc:
        fail(str(exc))
    host = host or settings.dashboard_host
    port = port or settings.dashboard_port
    typer.echo(f"spendscope dashboard on http://{host}:{port}/", err=True)
    try:
        _serve(app, host, port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


@dashboard_app.command("hash-password", cls=_OneLineCommandErrors)
def hash_password_cmd(
    user: Annotated[str | None, typer.Option(help="Print a whole 'name:role:hash' entry")] = None,
    role: Annotated[str, typer.Option(help="Role of --user: admin or viewer")] = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Print a salted scrypt hash for SPENDSCOPE_DASHBOARD_USERS."""
    from dashboard.passwords import ROLES, hash_password

    if role not in ROLES:
        fail(f"--role must be admin or viewer, not {role!r}")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        fail("the password must not be empty")
    digest = hash_password(password)
    typer.echo(f"{user}:{role}:{digest}" if user else digest)


def register(app: typer.Typer) -> None:
    app.add_typer(dashboard_app, name="dashboard")
