"""``spendscope serve``: run the gateway (uvicorn with uvloop and httptools).

The database is migrated once here, before any worker starts, so N workers never race on
Alembic — in a child process, so that Alembic (~13 MB once imported and run) never enters
the memory of a gateway, and only when it is not at the newest schema already. Then this
process becomes ``python -m collector.gateway.serving`` (``exec``: same process id), which
runs uvicorn without the CLI in its memory. With one worker, that program checks the
settings as it builds its app, before it binds; with several, they are checked here first.
"""

from __future__ import annotations

import os
import subprocess
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

    if n_workers > 1:  # one worker checks them itself, building its app before it binds
        from collector.errors import SettingsError
        from collector.gateway import check_settings

        try:
            check_settings(settings)
        except SettingsError as exc:
            fail(str(exc))
    _migrate(settings.database_url)
    _run(bind_host, bind_port, n_workers, settings.log_level.lower())


def _migrate(database_url: str) -> None:
    """``alembic upgrade head`` in a child process (``collector.db.upgrade_child``: the URL on its
    standard input, never in its arguments) unless the database is there already; exit with its
    one-line error if it fails."""
    from collector.db.migrate import at_head

    if at_head(database_url):
        return
    done = subprocess.run(
        [sys.executable, "-m", "collector.db.upgrade_child"],
        input=database_url,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"status {done.returncode}"])[-1]
        fail(f"database upgrade failed: {reason}")


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
