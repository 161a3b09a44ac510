"""``spendscope db …``: schema migrations."""

from __future__ import annotations

import typer

from collector.cli.common import fail, settings_or_exit
from collector.db.migrate import check, upgrade_head

db_app = typer.Typer(help="Database schema: upgrade and check migrations.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade() -> None:
    """Bring the database to the newest schema (alembic upgrade head)."""
    settings = settings_or_exit()
    try:
        upgrade_head(settings.database_url)
    except Exception as exc:
        fail(f"database upgrade failed: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    typer.echo("database is at the newest schema")


@db_app.command("check")
def check_cmd() -> None:
    """Exit non-zero when the models and the migrations disagree."""
    settings = settings_or_exit()
    try:
        check(settings.database_url)
    except Exception as exc:
        fail(f"schema check failed: {str(exc).splitlines()[0]}")
    typer.echo("no drift: models match the migrations")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
