"""``spendscope report``: the month's chargeback or FOCUS export, to stdout or a file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from collector.cli.common import database_errors, fail, read_engine_or_exit


def report(
    month: Annotated[str, typer.Option(help="Calendar month in UTC, YYYY-MM.")],
    group_by: Annotated[
        str, typer.Option("--group-by", help="project, key, user, model, tag or provider.")
    ] = "project",
    fmt: Annotated[str, typer.Option("--format", help="csv, json or focus.")] = "csv",
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Chargeback per group with exact totals, or a FinOps FOCUS file (day × project × model)."""
    from collector.reports import render_report  # keeps `spendscope --help` cheap

    if output is not None:
        _check_writable(output)
    engine = read_engine_or_exit()
    try:
        with database_errors():
            text = render_report(engine, month, group_by, fmt)
    except ValueError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    typer.echo(f"wrote {output}", err=True)


def _check_writable(path: Path) -> None:
    """Refuse before the (possibly long) query, not after it."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        fail(f"cannot write {path}: it is a directory")
    if not parent.is_dir():
        fail(f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        fail(f"cannot write {path}: permission denied")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
