"""Helpers every CLI command shares: one-line errors, settings, and the database engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from collector.db import make_engine
from collector.errors import GatewayError, SettingsError
from collector.secrets import mask_urls
from collector.settings import Settings, get_settings


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one clear line on stderr and exit with ``code`` (2: bad input/config).

    URL passwords are masked: the message may quote a database or Redis URL.
    """
    typer.echo(f"error: {mask_urls(message)}", err=True)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        fail(str(exc))


def engine_or_exit(settings: Settings | None = None) -> Engine:
    settings = settings or settings_or_exit()
    return make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)


_MISSING_TABLE = ("no such table", "undefinedtable", "does not exist")


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn database and input errors into one line on stderr and exit code 2."""
    try:
        yield
    except GatewayError as exc:
        fail(exc.message)
    except (OperationalError, ProgrammingError) as exc:
        text = f"{exc.__class__.__name__} {exc.orig!r}".lower()
        if any(marker in text for marker in _MISSING_TABLE):
            fail("the database has no spendscope tables: run `spendscope db upgrade` first")
        fail(f"database error: {str(exc.orig).splitlines()[0] if exc.orig else exc}")
    except SQLAlchemyError as exc:
        fail(f"database error: {exc.__class__.__name__}")
