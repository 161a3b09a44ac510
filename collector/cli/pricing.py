"""``spendscope prices list|show|import|reprice`` (and ``cost``'s registration): prices.

Bad input is one line on stderr and exit 2 (never a traceback); an unknown model is
``unpriced`` and exit 3, so scripts can tell "no price" from "bad question".
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from collector.cli.common import fail
from collector.cli.cost import cost
from collector.cli.flags import (
    EXIT_BAD_INPUT,
    EXIT_UNPRICED,
    configured_overrides,
    instant_flag,
)
from collector.cli.prices_diff import diff_prices_command
from collector.cli.reprice import reprice_prices
from collector.pricing import SCALAR_PRICES

if TYPE_CHECKING:
    from collector.pricing import ImportResult, PriceEntry, PriceOverride, TierRates


def register(app: typer.Typer) -> None:
    """Add ``cost`` and the ``prices`` group to the spendscope app."""
    app.command("cost")(cost)
    prices = typer.Typer(help="Inspect the price catalog and import prices.", no_args_is_help=True)
    prices.command("list")(list_prices)
    prices.command("show")(show_price)
    prices.command("import")(import_prices)
    prices.command("reprice")(reprice_prices)
    prices.command("diff")(diff_prices_command)
    app.add_typer(prices, name="prices")


def list_prices(
    family: Annotated[str | None, typer.Option(help="Only this family, e.g. gpt-4o.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List every catalog entry (price history included)."""
    from collector.pricing import load_catalog

    catalog = load_catalog()
    if family is not None and family not in catalog.families():
        _fail(f"unknown family {family!r} (known: {', '.join(catalog.families())})")
    entries = sorted(
        (e for e in catalog.entries if family is None or e.family == family),
        key=lambda e: (e.family, e.model, e.effective_from),
    )
    extra = [o for o in _overrides() if family is None or _in_family(o, entries)]
    if as_json:
        rows = [entry_to_dict(e) for e in entries] + [override_to_dict(o) for o in extra]
        typer.echo(json.dumps(rows, indent=2))
        return
    _print_table(entries, extra)


def show_price(
    model: Annotated[str, typer.Argument(help="Model name, alias or fine-tuned id.")],
    at: Annotated[
        str | None, typer.Option(help="ISO-8601 date or instant (UTC if no offset).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the price in force for MODEL (now, or at --at) and where it comes from."""
    from collector.pricing import applicable_overrides, resolve_price

    when = instant_flag(at, "--at")
    entry = resolve_price(model, when)
    applied = applicable_overrides(model, when, _overrides())
    own = next((o for o in applied if not o.is_org_wide), None)
    if entry is None and (own is None or own.input_per_1m is None or own.output_per_1m is None):
        typer.echo(f"no price known for {model!r} at {when.isoformat()}", err=True)
        raise typer.Exit(EXIT_UNPRICED)
    data: dict[str, Any] = {"requested": model, **(entry_to_dict(entry) if entry else {})}
    if applied:
        data["overrides"] = [override_to_dict(o) for o in applied]
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        if value not in (None, [], {}):
            typer.echo(f"{key:>16}: {_plain(value)}")


def import_prices(
    file: Annotated[Path, typer.Argument(help="LiteLLM model_prices_and_context_window.json")],
    effective_from: Annotated[
        str | None, typer.Option(help="When the imported prices start (default now).")
    ] = None,
    include_catalogued: Annotated[
        bool, typer.Option("--all", help="Also override models the catalog already prices.")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Parse and summarise; write nothing.")] = False,
) -> None:
    """Import OpenAI token prices from LiteLLM's JSON as price overrides."""
    from collector.pricing import parse_litellm_prices

    data = read_json_object(file)
    start = instant_flag(effective_from, "--effective-from")
    result = parse_litellm_prices(data)
    if not include_catalogued:
        result = _without_catalogued(result, start)
    for line in result.summary():
        typer.echo(line)
    if dry_run or not result.prices:
        return
    written = _write_overrides(result, start)
    typer.echo(f"wrote {written} price overrides (in force from {start.isoformat()})")


def entry_to_dict(entry: PriceEntry) -> dict[str, Any]:
    """A JSON-ready view of a catalog entry; money as decimal strings."""
    prices: dict[str, Any] = {name: _money_or_none(getattr(entry, name)) for name in SCALAR_PRICES}
    if entry.batch is not None:
        prices["batch"] = _tier_dict(entry.batch)
    for tier, rates in entry.tiers.items():
        prices[tier] = _tier_dict(rates)
    if entry.per_image:
        prices["per_image"] = {k: _money(v) for k, v in entry.per_image.items()}
    long = entry.long_context
    if long is not None:
        prices["long_context"] = {
            "above_input_tokens": long.threshold,
            "input_factor": _money(long.input_factor),
            "output_factor": _money(long.output_factor),
            "modes": sorted(long.modes),
        }
    if entry.regional_uplift_pct is not None:
        prices["regional_uplift_pct"] = _money(entry.regional_uplift_pct)
    if entry.cache_write_factor is not None:
        prices["cache_write_factor"] = _money(entry.cache_write_factor)
    return {
        "id": entry.id,
        "model": entry.model,
        "family": entry.family,
        "aliases": list(entry.aliases),
        "patterns": list(entry.patterns),
        "effective_from": entry.effective_from.isoformat(),
        "mode": entry.mode,
        "unit": entry.unit.value,
        "prices": {k: v for k, v in prices.items() if v is not None},
        "source": entry.source,
        "note": entry.note,
    }


def override_to_dict(override: PriceOverride) -> dict[str, Any]:
    """A stored price override, shaped like a catalog entry where the two share fields."""
    prices = {
        "input": override.input_per_1m, "cached_input": override.cached_input_per_1m,
        "output": override.output_per_1m, "discount_pct": override.discount_pct,
    }  # fmt: skip
    end = override.effective_to
    return {
        "id": f"override:{override.ref}",
        "model": override.model,
        "effective_from": override.effective_from.isoformat(),
        "effective_to": None if end is None else end.isoformat(),
        "prices": {k: _money(v) for k, v in prices.items() if v is not None},
        "source": "override",
        "note": override.note,
    }


def _overrides() -> list[PriceOverride]:
    return configured_overrides()


def _in_family(override: PriceOverride, entries: list[PriceEntry]) -> bool:
    from fnmatch import fnmatchcase

    return any(fnmatchcase(e.model, override.model) for e in entries)


def _print_table(entries: list[PriceEntry], overrides: list[PriceOverride]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Prices (USD per 1M tokens unless the unit says otherwise)")
    for column in ("Model", "From", "Unit", "Input", "Cached", "Output", "Batch in/out"):
        table.add_column(column, no_wrap=column in ("From", "Unit"))
    for e in entries:
        names = e.model + (f" ({', '.join(e.aliases)})" if e.aliases else "")
        unit_price = next(
            (p for p in (e.input, e.per_minute, e.per_1m_characters) if p is not None), None
        )
        batch = e.batch
        table.add_row(
            names,
            e.effective_from.date().isoformat(),
            e.unit.value,
            _cell(unit_price),
            _cell(e.cached_input),
            f"{len(e.per_image)} sizes" if e.per_image else _cell(e.output),
            "-" if batch is None else f"{_cell(batch.input)} / {_cell(batch.output)}",
        )
    for o in overrides:
        discount = f", -{_money(o.discount_pct)}%" if o.discount_pct is not None else ""
        table.add_row(
            f"{o.model} (override:{o.ref}{discount})", o.effective_from.date().isoformat(),
            "token", _cell(o.input_per_1m), _cell(o.cached_input_per_1m),
            _cell(o.output_per_1m), "-",
        )  # fmt: skip
    Console().print(table)


def _without_catalogued(result: ImportResult, at: datetime) -> ImportResult:
    """Drop prices for models the catalog already prices at ``at`` (it has dated history)."""
    from dataclasses import replace

    from collector.pricing import resolve_price

    kept = tuple(p for p in result.prices if resolve_price(p.model, at) is None)
    dropped = len(result.prices) - len(kept)
    if not dropped:
        return result
    reason = "already priced by the catalog (use --all to override)"
    return replace(result, prices=kept, skipped={**result.skipped, reason: dropped})


def _write_overrides(result: ImportResult, start: datetime) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from collector.cli.common import engine_or_exit
    from collector.db import session_scope
    from collector.errors import SpendscopeError
    from collector.pricing import add_override

    overrides = result.to_overrides(start)
    engine = engine_or_exit()
    try:
        with session_scope(engine) as session:
            for override in overrides:
                add_override(session, override)
    except (SQLAlchemyError, SpendscopeError) as exc:
        _fail(f"could not write overrides: {str(exc).splitlines()[0]}", code=1)
    return len(overrides)


def read_json_object(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        _fail(f"cannot read {file}: {reason}")
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        _fail(f"{file} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    if not isinstance(data, dict):
        _fail(f"{file} must hold a JSON object keyed by model name")
    return data


def _money(value: Decimal) -> str:
    return format(value, "f")


def _money_or_none(value: Decimal | None) -> str | None:
    return None if value is None else _money(value)


def _tier_dict(rates: TierRates) -> dict[str, str]:
    raw = {"input": rates.input, "cached_input": rates.cached_input, "output": rates.output}
    return {k: _money(v) for k, v in raw.items() if v is not None}


def _cell(value: Decimal | None) -> str:
    return "-" if value is None else _money(value)


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(json.dumps(v) if isinstance(v, dict) else str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _fail(message: str, *, code: int = EXIT_BAD_INPUT) -> NoReturn:
    fail(message, code)


__all__ = ["entry_to_dict", "override_to_dict", "register"]
