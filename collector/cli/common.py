"""Helpers every CLI command shares: one-line errors, settings, and the database engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from collector.errors import GatewayError, SettingsError
from collector.secrets import mask_urls
from collector.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine


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
    """The configured database's engine; a SQLite file that does not exist is an error.

    Only ``spendscope db upgrade`` (and the programs that migrate on start) create a database:
    any other command opening a missing file would leave an empty one behind.
    """
    from collector.db import make_engine  # the models: only commands that open the database

    settings = settings or settings_or_exit()
    missing = missing_sqlite_file(settings.database_url)
    if missing is not None:
        fail(_no_database(settings.database_url, missing))
    return make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)


def read_engine_or_exit(settings: Settings | None = None) -> Engine:
    """The engine a read-only command (reports, logs, listings) opens: the read replica's
    when ``SPENDSCOPE_READ_DATABASE_URL`` is set, else the primary's as ``engine_or_exit``."""
    settings = settings or settings_or_exit()
    if not settings.reads_from_replica:
        return engine_or_exit(settings)
    missing = missing_sqlite_file(settings.read_url)
    if missing is not None:
        fail(_no_database(settings.read_url, missing))
    from collector.db import make_engine

    return make_engine(settings.read_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)


DEMO_DATABASE = Path("spendscope-demo.db")


def missing_sqlite_file(url: str) -> Path | None:
    """The file a SQLite ``url`` names when it does not exist yet; None otherwise."""
    try:
        parsed = make_url(url)
    except Exception:  # an unparsable URL fails later, with the driver's own message
        return None
    name = parsed.database or ""
    if not parsed.drivername.startswith("sqlite") or name in ("", ":memory:"):
        return None
    if name.startswith("file:") or parsed.query.get("mode") == "memory":
        return None
    path = Path(name)
    return None if path.exists() else path


def _no_database(url: str, path: Path) -> str:
    message = (
        f"no database at {url} ({path} does not exist): run `spendscope db upgrade` to create "
        "it, or set SPENDSCOPE_DATABASE_URL to an existing one"
    )
    if DEMO_DATABASE.exists():
        demo_url = f"sqlite:///{DEMO_DATABASE.resolve()}"
        message += f"; for the demo's: export SPENDSCOPE_DATABASE_URL={demo_url}"
    return message


def _configured_url() -> str:
    try:
        return get_settings().database_url
    except SettingsError:
        return "the configured database"


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
            fail(
                f"the database at {_configured_url()} has no spendscope tables: "
                "run `spendscope db upgrade` first"
            )
        fail(f"database error: {str(exc.orig).splitlines()[0] if exc.orig else exc}")
    except SQLAlchemyError as exc:
        fail(f"database error: {exc.__class__.__name__}")
