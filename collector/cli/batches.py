"""``spendscope batches …``: the Batch API jobs the gateway relayed, and what they cost.

A job's lines are recorded as requests once it ends (at batch rates); ``cost_usd`` sums the
priced lines recorded so far, and the lines without a price are counted beside it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select

from collector.cli.common import database_errors, fail, read_engine_or_exit
from collector.db import Project, session_scope

if TYPE_CHECKING:  # the query layer loads pandas: only when a command runs, not at start-up
    from collector.analytics import BatchSummary

batches_app = typer.Typer(help="Batch API jobs: list, show.", no_args_is_help=True)


def _counts(job: BatchSummary) -> str:
    return f"{job.request_completed}/{job.request_total} ok, {job.request_failed} failed"


def _table(jobs: list[BatchSummary]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("id", "status", "project", "requests", "lines", "cost_usd", "created"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        lines = f"{job.lines_recorded}" + (
            f" ({job.unpriced_lines} unpriced)" if job.unpriced_lines else ""
        )
        table.add_row(
            job.id, job.status, job.project or "", _counts(job), lines, str(job.cost_usd),
            f"{job.created_at:%Y-%m-%d %H:%M}",
        )  # fmt: skip
    return table


@batches_app.command("list")
def list_cmd(
    project: Annotated[str | None, typer.Option(help="Only jobs of this project.")] = None,
    limit: Annotated[int, typer.Option(help="Most jobs shown, newest first (1..1000).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    responses: Annotated[
        bool,
        typer.Option("--responses", help="Background Responses API responses instead of jobs."),
    ] = False,
) -> None:
    """Jobs, newest first: status, request counts, lines recorded, cost so far."""
    if not 1 <= limit <= 1000:
        fail(f"--limit must be within 1..1000, got {limit}")
    engine = read_engine_or_exit()
    try:
        with database_errors():
            projects = (_project_id(engine, project),) if project else ()
            from collector.analytics import batch_jobs

            kind = "response" if responses else "batch"
            jobs = batch_jobs(engine, project_ids=projects, limit=limit, kind=kind)
    finally:
        engine.dispose()
    if as_json:
        for job in jobs:
            typer.echo(json.dumps(job.to_json()))
    elif not jobs:
        typer.echo("no background responses" if responses else "no batch jobs", err=True)
    else:
        Console().print(_table(jobs))


def _project_id(engine: Engine, name: str) -> int:
    with session_scope(engine) as session:
        found = session.scalar(select(Project.id).where(Project.name == name.strip()))
    if found is None:
        fail(f"no project named {name.strip()!r}")
    return int(found)


@batches_app.command("show")
def show(
    batch_id: Annotated[str, typer.Argument(help="The job's id (batch_…).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """One job: status, request counts, lines recorded, cost so far, attribution."""
    engine = read_engine_or_exit()
    try:
        with database_errors():
            from collector.analytics import batch_job

            job = batch_job(engine, batch_id.strip())
    finally:
        engine.dispose()
    if job is None:
        fail(f"no batch job {batch_id.strip()!r} (only jobs created through the gateway are known)")
    if as_json:
        typer.echo(json.dumps(job.to_json()))
        return
    recorded = f"{job.recorded_at:%Y-%m-%d %H:%M:%S} UTC" if job.recorded_at else "not yet"
    rates = "standard rates" if job.endpoint == "/v1/responses" else "batch rates"
    rows = [
        ("id", job.id), ("status", job.status), ("endpoint", job.endpoint),
        ("model", job.model or ""), ("requests", _counts(job)),
        ("lines recorded", str(job.lines_recorded)),
        ("unpriced lines", str(job.unpriced_lines)),
        (f"cost so far ({rates})", f"${job.cost_usd}"),
        ("project", job.project or ""), ("key", job.key or ""), ("user", job.end_user or ""),
        ("tags", ",".join(f"{k}={v}" for k, v in job.tags.items())),
        ("created", f"{job.created_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("ended", f"{job.completed_at:%Y-%m-%d %H:%M:%S} UTC" if job.completed_at else ""),
        ("recorded", recorded),
    ]  # fmt: skip
    for name, value in rows:
        typer.echo(f"{name:<26} {value}")


def register(app: typer.Typer) -> None:
    app.add_typer(batches_app, name="batches")
