"""Helpers every CLI command shares: one-line errors, settings, and the database engine."""

from __future__ import annotations

from typing import NoReturn

import typer
from sqlalchemy import Engine

from collector.db import make_engine
from collector.errors import SettingsError
from collector.settings import Settings, get_settings


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one clear line on stderr and exit with ``code`` (2: bad input/config)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        fail(str(exc))


def engine_or_exit(settings: Settings | None = None) -> Engine:
    settings = settings or settings_or_exit()
    return make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
