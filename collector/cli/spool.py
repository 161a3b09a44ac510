"""``spendscope spool …``: what waits on disk to be recorded, and quarantine."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from collector.cli.common import engine_or_exit, fail, settings_or_exit
from collector.errors import StorageError
from collector.recorder.journal import SUFFIX as JOURNAL_SUFFIX
from collector.recorder.quarantine import list_quarantine, redrive
from collector.recorder.spool import Spool

spool_app = typer.Typer(help="The recorder's spool, journal and quarantine.", no_args_is_help=True)
quarantine_app = typer.Typer(
    help="Events the database refused: list them, re-drive them after a fix.",
    no_args_is_help=True,
)
_JSON = Annotated[bool, typer.Option("--json", help="One JSON object.")]


def _spool() -> Spool:
    settings = settings_or_exit()
    try:
        return Spool(settings.spool_dir)
    except OSError as exc:
        fail(f"spool directory {settings.spool_dir}: {exc.strerror or exc}")


@spool_app.command("status")
def status(as_json: _JSON = False) -> None:
    """Batches waiting for the database, journal segments, quarantined files."""
    spool = _spool()
    journal = sorted((spool.directory / "journal").glob(f"*{JOURNAL_SUFFIX}"))
    info = {
        "directory": str(spool.directory),
        "pending_batches": len(spool.pending()),
        "pending_events": spool.pending_events(),
        "pending_bytes": spool.pending_bytes(),
        "journal_segments": len(journal),
        "quarantined_files": len(spool.quarantined()),
    }
    if as_json:
        typer.echo(json.dumps(info))
        return
    for key, value in info.items():
        typer.echo(f"{key:<18} {value}")


@quarantine_app.command("list")
def list_cmd(as_json: _JSON = False) -> None:
    """Each quarantined file: its events, their request ids, and why."""
    files = list_quarantine(_spool())
    if as_json:
        typer.echo(json.dumps([f.to_json() for f in files], ensure_ascii=False))
        return
    if not files:
        typer.echo("quarantine is empty")
        return
    for f in files:
        why = f.error or f.reason or "no reason recorded"
        ids = ", ".join(f.request_ids[:5]) + (" …" if len(f.request_ids) > 5 else "")
        typer.echo(f"{f.name}  {f.events} events  {why[:200]}")
        if ids:
            typer.echo(f"    {ids}")


@quarantine_app.command("replay")
def replay(
    files: Annotated[list[str] | None, typer.Argument(help="File names (default: all).")] = None,
) -> None:
    """Write the quarantined events again (after a fix); those still refused stay."""
    spool = _spool()
    known = {p.name for p in spool.quarantined()}
    unknown = sorted(set(files or []) - known)
    if unknown:
        fail(f"not in quarantine: {', '.join(unknown)} (see `spendscope spool quarantine list`)")
    try:
        result = redrive(spool, engine_or_exit(), files or None)
    except StorageError as exc:
        fail(f"the database cannot be reached; nothing was removed: {exc}")
    typer.echo(
        f"stored {result.stored}, already stored {result.duplicates}, still refused "
        f"{result.refused}; {len(result.cleared)} files cleared"
    )
    for name in result.unreadable:
        typer.echo(f"unreadable, left in place: {name}", err=True)
    if result.refused or result.unreadable:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    spool_app.add_typer(quarantine_app, name="quarantine")
    app.add_typer(spool_app, name="spool")
