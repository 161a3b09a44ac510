"""``spendscope serve``: run the gateway (uvicorn with uvloop and httptools).

This process checks the flags and settings, then becomes ``python -m collector.gateway.serving``
(``exec``: same process id), which runs uvicorn without the CLI in its memory. The database
is migrated once, before any worker starts, so N workers never race on Alembic
(``serving.migrate_or_exit``: Alembic in a child process, only when the database is not at
the newest schema already). With one worker the serving program migrates and checks the
settings as it builds its app, before it binds: this process imports neither the database
layer nor the gateway. With several, both happen here first.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from collector.cli.common import fail, settings_or_exit
from collector.settings import Settings

_MAX_WORKERS = 64


def _int_flag(name: str, value: str, low: int, high: int) -> int:
    """Parse an integer flag, or exit 2 with one line naming it."""
    try:
        number = int(value)
    except ValueError:
        fail(f"--{name} must be an integer, got {value!r}")
    if not low <= number <= high:
        fail(f"--{name} must be between {low} and {high}, got {number}")
    return number


def _settings() -> Settings:
    return settings_or_exit()


def serve(
    host: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS", help="Address to listen on (default from SPENDSCOPE_HOST)."
        ),
    ] = None,
    port: Annotated[
        str | None,
        typer.Option(metavar="PORT", help="Port to listen on (default from SPENDSCOPE_PORT)."),
    ] = None,
    workers: Annotated[str, typer.Option(metavar="N", help="Worker processes (1-64).")] = "1",
) -> None:
    """Serve the OpenAI-compatible gateway on /v1 (health on /healthz) until Ctrl-C."""
    settings = _settings()
    bind_host = settings.host if host is None else host.strip()
    if not bind_host:
        fail("--host must not be empty")
    bind_port = settings.port if port is None else _int_flag("port", port, 1, 65535)
    n_workers = _int_flag("workers", workers, 1, _MAX_WORKERS)

    if n_workers > 1:  # one worker migrates and checks them itself, before it binds
        from collector.errors import SettingsError
        from collector.gateway import check_settings
        from collector.gateway.serving import migrate_or_exit

        try:
            check_settings(settings)
        except SettingsError as exc:
            fail(str(exc))
        migrate_or_exit(settings.database_url)
    _run(bind_host, bind_port, n_workers, settings.log_level.lower())


def _run(host: str, port: int, workers: int, log_level: str) -> None:
    """Become the serving program (same process id): the CLI's modules leave memory."""
    from collector.gateway import serving

    sys.stdout.flush()
    sys.stderr.flush()
    program = [sys.executable, "-m", "collector.gateway.serving"]
    os.execv(sys.executable, program + serving.argv(host, port, workers, log_level))  # noqa: S606 - our own interpreter and module, no shell


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the ``spendscope`` CLI."""
    app.command("serve")(serve)
