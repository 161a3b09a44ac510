"""``spendscope budgets …``: create, list, update and delete spending limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer

from collector.cli.common import (
    database_errors,
    engine_or_exit,
    fail,
    read_engine_or_exit,
    settings_or_exit,
)
from collector.units import MONEY_UNIT

__all__ = ["register"]

budgets_app = typer.Typer(
    help="Spending limits: soft (alert) or hard (block).", no_args_is_help=True
)

_QUANTUM = MONEY_UNIT  # the database stores Numeric(20, 10)

ModeOpt = Annotated[str | None, typer.Option("--mode", help="soft (alert) or hard (block).")]
ThresholdsOpt = Annotated[
    str | None, typer.Option("--thresholds", help="Alert thresholds in percent, e.g. 50,80,100.")
]


def _mode(text: str) -> Any:
    from collector.budgets import BudgetConfigError, Mode

    try:
        return Mode(text)
    except ValueError:
        raise BudgetConfigError(f"bad mode {text!r}; use soft or hard") from None


@budgets_app.command("create")
def create(
    scope: Annotated[
        str,
        typer.Option(help="global | project:NAME | key:PREFIX | user:ID | model:NAME | tag:K=V"),
    ],
    period: Annotated[str, typer.Option(help="day | week | month | rolling:Nd")],
    amount_usd: Annotated[str, typer.Option("--amount-usd", help="Limit in USD, e.g. 250.00.")],
    mode: ModeOpt = "soft",
    thresholds: ThresholdsOpt = None,
    name: Annotated[
        str | None, typer.Option(help="Unique name (default: scope/period/mode).")
    ] = None,
) -> None:
    """Create a budget."""
    from collector.budgets import (
        DEFAULT_THRESHOLDS,
        BudgetConfigError,
        BudgetSpec,
        create_budget,
        parse_amount,
        parse_period,
        parse_scope,
        parse_thresholds,
    )

    try:
        spec = BudgetSpec(
            name=name or f"{scope} {period} {mode}",
            scope=parse_scope(scope),
            period=parse_period(period),
            amount_usd=parse_amount(amount_usd),
            mode=_mode(mode or "soft"),
            thresholds=parse_thresholds(thresholds) if thresholds else DEFAULT_THRESHOLDS,
        )
        saved = create_budget(engine_or_exit(), spec, datetime.now(UTC))
    except BudgetConfigError as exc:
        fail(str(exc))
    typer.echo(f"created budget {saved.name!r}: {saved.scope} per {saved.period}, {saved.mode}")


def _row(status: Any, tz_name: str) -> dict[str, Any]:
    from collector.budgets import parse_timezone

    b = status.budget
    return {
        "name": b.name, "scope": str(b.scope), "period": str(b.period), "mode": b.mode.value,
        "amount_usd": _plain(b.amount_usd), "spent_usd": _plain(status.spent_usd),
        "reserved_usd": _plain(status.reserved_usd),
        "remaining_usd": _plain(status.remaining_usd), "percent": str(status.percent),
        "thresholds": list(b.thresholds), "crossed": list(status.crossed),
        "forecast_usd": _plain(status.forecast.projected_usd),
        "resets_at": status.window.end.astimezone(parse_timezone(tz_name)).isoformat(),
    }  # fmt: skip


def _plain(amount: Decimal) -> str:
    """Money exactly as ``spendscope cost`` prints it: plain decimal, 10 places, no exponent."""
    return format(amount.quantize(_QUANTUM), "f")


@budgets_app.command("list")
def list_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    exact: Annotated[bool, typer.Option("--exact", help="Money to 1e-10 USD, not cents.")] = False,
    wide: Annotated[
        bool, typer.Option("--wide", help="Every column (reserved), exact money, reset times.")
    ] = False,
) -> None:
    """Budgets with spent, reserved, remaining and forecast for the current period."""
    from collector.budgets import budget_statuses, parse_timezone

    settings = settings_or_exit()
    try:
        tz = parse_timezone(settings.timezone)
    except ValueError as exc:
        fail(str(exc))
    with database_errors():
        statuses = budget_statuses(read_engine_or_exit(settings), datetime.now(UTC), tz)
    rows = [_row(s, settings.timezone) for s in statuses]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no budgets")
        return
    _print_table(rows, exact=exact or wide, wide=wide)


_MONEY = ("amount_usd", "spent_usd", "reserved_usd", "remaining_usd", "forecast_usd")


def _print_table(rows: list[dict[str, Any]], *, exact: bool, wide: bool) -> None:
    from collector.cli.fmt import Col, console, money, table, table_width

    names = ["amount", "spent", *(["reserved"] if wide else []), "remaining", "used %", "forecast"]
    columns = [Col("name", flex=1), Col("scope", flex=1), Col("period"), Col("mode"),
               *(Col(n, justify="right") for n in names)]  # fmt: skip
    columns += [Col("resets")] if wide else []
    cells = []
    for r in rows:
        amounts = [money(Decimal(r[k]), exact=exact) for k in _MONEY if wide or k != "reserved_usd"]
        cells.append([
            r["name"], r["scope"], r["period"], r["mode"], *amounts[:-1],
            f"{Decimal(r['percent']):.1f}" if not exact else r["percent"], amounts[-1],
            *([r["resets_at"]] if wide else []),
        ])  # fmt: skip
    out = console(wide=wide)
    out.print(table(columns, cells, width=table_width(out, wide=wide)))


@budgets_app.command("update")
def update(
    name: str,
    amount_usd: Annotated[str | None, typer.Option("--amount-usd")] = None,
    mode: ModeOpt = None,
    thresholds: ThresholdsOpt = None,
    rename: Annotated[str | None, typer.Option("--rename", help="New name.")] = None,
) -> None:
    """Change a budget's amount, mode, thresholds or name."""
    from collector.budgets import BudgetConfigError, parse_amount, parse_thresholds, update_budget

    try:
        spec = update_budget(
            engine_or_exit(), name, datetime.now(UTC),
            amount_usd=parse_amount(amount_usd) if amount_usd is not None else None,
            mode=_mode(mode) if mode is not None else None,
            thresholds=parse_thresholds(thresholds) if thresholds is not None else None,
            new_name=rename,
        )  # fmt: skip
    except BudgetConfigError as exc:
        fail(str(exc))
    typer.echo(f"updated budget {spec.name!r}")


@budgets_app.command("delete")
def delete(name: str) -> None:
    """Delete a budget (its counters and holds go with it)."""
    from collector.budgets import delete_budget

    if not delete_budget(engine_or_exit(), name):
        fail(f"no budget named {name!r}")
    typer.echo(f"deleted budget {name!r}")


def register(app: typer.Typer) -> None:
    app.add_typer(budgets_app, name="budgets")
