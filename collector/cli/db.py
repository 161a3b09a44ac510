"""``spendscope db …``: schema migrations and maintenance (retention)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from collector.cli.common import fail, settings_or_exit
from collector.db.migrate import check, upgrade_head

db_app = typer.Typer(
    help="Database schema (upgrade, check) and maintenance (retention).", no_args_is_help=True
)


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


@db_app.command("maintain")
def maintain(
    days: int | None = typer.Option(
        None, "--days", min=1, help="Keep this many days of raw requests (default: the setting)."
    ),
) -> None:
    """Create PostgreSQL's monthly partitions ahead, then delete raw requests and attempts
    older than the retention (whole months at once when partitioned); rollups stay."""
    from collector.db import make_engine
    from collector.db.retention import maintain as run_maintenance

    settings = settings_or_exit()
    keep = days if days is not None else settings.retention_days
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        result = run_maintenance(engine, keep, datetime.now(UTC))
    except Exception as exc:
        fail(f"maintenance failed: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
    if result.months_created:
        months = ", ".join(f"{m:%Y-%m}" for m in result.months_created)
        typer.echo(f"created the monthly partitions of {months}")
    if result.in_default:
        typer.echo(
            f"{result.in_default:,} requests are in the default partition "
            "(ids of no month or of a month not created yet, and unpriced rows an earlier "
            "version kept there)"
        )
    if result.cutoff is None:
        typer.echo("retention is off (SPENDSCOPE_RETENTION_DAYS unset): nothing deleted")
        return
    dropped = ""
    if result.months_dropped:
        dropped = " — months cut by partition: " + ", ".join(
            f"{m:%Y-%m}" for m in result.months_dropped
        )
    typer.echo(
        f"deleted {result.requests_deleted:,} raw requests that started before "
        f"{result.cutoff:%Y-%m-%d %H:%M} UTC (unpriced ones are kept; rollups stay){dropped}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
