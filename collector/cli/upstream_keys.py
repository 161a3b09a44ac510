"""``spendscope upstream-keys status``: each server-held upstream key's use, errors and spend.

Keys are shown by their last four characters only. The configured keys come from the
settings (as a gateway reads them); their record from the database, which every gateway
process writes: a key whose latest answer was a refusal (401/403) reads ``revoked``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from collector.cli.common import database_errors, engine_or_exit, fail, settings_or_exit
from collector.cli.fmt import Col, console, money, table, table_width
from collector.errors import SettingsError
from collector.upstream_key_usage import KeyUsage, key_usage
from collector.upstream_keys import keys_by_upstream

upstream_keys_app = typer.Typer(help="Server-held upstream keys: their use.", no_args_is_help=True)

_COLUMNS = (
    Col("upstream", flex=1), Col("key"), Col("state"), Col("last use UTC"),
    Col("requests", justify="right"), Col("401/403", justify="right"),
    Col("429", justify="right"), Col("5xx", justify="right"), Col("spend $", justify="right"),
)  # fmt: skip


@upstream_keys_app.command("status")
def status(
    days: Annotated[int, typer.Option(min=1, max=3660, help="Look back this many days.")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    exact: Annotated[bool, typer.Option("--exact", help="Spend to 1e-10 USD.")] = False,
    wide: Annotated[bool, typer.Option("--wide", help="Never cut a column.")] = False,
) -> None:
    """Per upstream and key (…last4): last use, requests, errors, spend and state."""
    settings = settings_or_exit()
    names = ["default", *settings.upstreams]
    try:
        configured = keys_by_upstream(
            names, settings.upstream_keys, settings.effective_upstream_api_key
        )
    except SettingsError as exc:
        fail(str(exc))
    engine = engine_or_exit(settings)
    try:
        with database_errors():
            rows = key_usage(engine, configured, datetime.now(UTC) - timedelta(days=days))
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps([_json(r) for r in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("no upstream key is configured or recorded", err=True)
        return
    out = console(wide=wide)
    cells = [_cells(r, exact=exact) for r in rows]
    out.print(table(_COLUMNS, cells, width=table_width(out, wide=wide)))


def _cells(r: KeyUsage, *, exact: bool) -> list[str]:
    last = f"{r.last_used:%m-%d %H:%M}" if r.last_used else ""
    return [r.upstream, r.label, r.state, last, str(r.requests), str(r.refused),
            str(r.rate_limited), str(r.server_errors), money(r.spend_usd, exact=exact)]  # fmt: skip


def _json(r: KeyUsage) -> dict[str, Any]:
    return {
        "upstream": r.upstream, "key": r.label, "state": r.state, "weight": r.weight,
        "last_used": r.last_used.isoformat() if r.last_used else None, "requests": r.requests,
        "errors": {"401/403": r.refused, "429": r.rate_limited, "5xx": r.server_errors},
        "spend_usd": None if r.spend_usd is None else format(r.spend_usd, "f"),
    }  # fmt: skip


def register(app: typer.Typer) -> None:
    app.add_typer(upstream_keys_app, name="upstream-keys")
