"""``spendscope reconcile``: fetch OpenAI's bill for a range of UTC days and compare it with
what spendscope metered (docs/finance.md, "Reconciling with OpenAI's bill")."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from collector.cli.common import database_errors, engine_or_exit, fail, settings_or_exit

if TYPE_CHECKING:
    from collector.reconcile import Reconciliation

_GROUPS = ("model", "project", "api_key")


def _day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{flag} must be a date YYYY-MM-DD, got {text!r}")


def reconcile_cmd(
    start: Annotated[str, typer.Option("--from", help="First UTC day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last UTC day (included), YYYY-MM-DD.")],
    group_by: Annotated[
        str, typer.Option("--group-by", help="Lines per model, project or api_key.")
    ] = "model",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Fetch OpenAI's Costs and Usage APIs for the days and reconcile them with the record."""
    from collector.analytics._reconciliation import MAX_DAYS, reconciliation
    from collector.errors import ReconcileError
    from collector.reconcile import GroupBy, admin_client, fetch_and_store, ownership
    from collector.reconcile import as_json as to_json

    first, last = _day(start, "--from"), _day(end, "--to")
    if last < first:
        fail(f"--to ({last}) is before --from ({first})")
    if (last - first).days + 1 > MAX_DAYS:
        fail(f"a reconciliation covers at most {MAX_DAYS} days")
    if group_by not in _GROUPS:
        fail(f"--group-by must be one of {', '.join(_GROUPS)}, got {group_by!r}")
    settings = settings_or_exit()
    engine = engine_or_exit(settings)
    try:
        with database_errors():
            try:
                with admin_client(settings) as client:
                    stored = fetch_and_store(engine, client, first, last, datetime.now(UTC))
            except ReconcileError as exc:
                fail(str(exc), code=1)
            rec = reconciliation(engine, first, last, ownership(settings), GroupBy(group_by))
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(to_json(rec), indent=2))
        return
    typer.echo(f"fetched {stored} bill line(s) for {first} .. {last}", err=True)
    _print(rec)


def _print(rec: Reconciliation) -> None:
    from collector.reconcile import usd_text
    from collector.reconcile._render import ratio_text

    console = Console(width=140)
    days = Table("date", "billed", "metered", "difference", "coverage", "unmetered",
                 title="OpenAI's bill against spendscope's record (USD)")  # fmt: skip
    for day, f in (*rec.days, ("total", rec.totals)):
        days.add_row(str(day), usd_text(f.billed_usd), usd_text(f.metered_usd),
                     usd_text(f.difference_usd), ratio_text(f.coverage) or "-",
                     usd_text(f.unmetered_usd))  # fmt: skip
    console.print(days)
    differing = [line for line in rec.lines if line.explanation]
    for line in sorted(differing, key=lambda x: -abs(x.difference_usd)):
        console.print(f"[{line.kind.value}] {line.explanation}", highlight=False)
    if not differing:
        console.print(f"every {rec.group_by.value} line matches", highlight=False)
    for u in rec.unmetered:
        console.print(
            f"unmetered: key {u.api_key_id or '-'} in project {u.project_id or '-'}: "
            f"${usd_text(u.billed_usd)} on {len(u.days)} day(s) bypassed the gateway",
            highlight=False,
        )
    for note in rec.notes:
        console.print(f"note: {note}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile_cmd)
