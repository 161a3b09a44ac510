"""``spendscope prices diff --litellm FILE``: how current is the catalog, checked offline.

Compares the shipped catalog and the stored overrides with a LiteLLM price table the
operator provides (nothing is fetched): OpenAI models missing here, and rates that differ,
each with both values. Exit 0 either way; ``--json`` for scripts.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from collector.cli.common import fail
from collector.cli.flags import configured_overrides, instant_flag

if TYPE_CHECKING:
    from collector.pricing import ImportedPrice, PriceDiff


def diff_prices_command(
    litellm: Annotated[
        Path,
        typer.Option("--litellm", metavar="FILE", help="LiteLLM's price JSON to compare with."),
    ],
    at: Annotated[
        str | None,
        typer.Option(metavar="ISO-8601", help="Compare the prices in force then; default now."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compare the catalog (and overrides) with LiteLLM's price table: missing and differing."""
    from collector.cli.pricing import read_json_object
    from collector.pricing import diff_prices, parse_litellm_prices

    when = instant_flag(at, "--at")
    imported = parse_litellm_prices(read_json_object(litellm))
    if not imported.prices:
        fail(f"{litellm} holds no OpenAI token prices")
    report = diff_prices(imported, when, overrides=configured_overrides())
    if as_json:
        typer.echo(json.dumps(_as_dict(report)))
    else:
        for line in _lines(report):
            typer.echo(line)


def _as_dict(report: PriceDiff) -> dict[str, Any]:
    differing = [
        {
            "model": d.model,
            "field": d.field,
            "ours": _money(d.ours),
            "litellm": _money(d.theirs),
            "price_id": d.price_id,
        }
        for d in report.differing
    ]
    missing = [_missing(p) for p in report.missing]
    return {"missing": missing, "differing": differing, "matching": report.matching}


def _missing(price: ImportedPrice) -> dict[str, Any]:
    rates = {
        name: _money(getattr(price, name))
        for name in ("input", "cached_input", "output", "batch_input", "batch_output")
        if getattr(price, name) is not None
    }
    return {"model": price.model, "mode": price.mode, "litellm": rates}


def _lines(report: PriceDiff) -> list[str]:
    lines = [f"missing here: {len(report.missing)} OpenAI models"]
    for price in report.missing:
        rates = ", ".join(f"{k} {v}" for k, v in _missing(price)["litellm"].items())
        lines.append(f"  {price.model} ({price.mode or '?'}): {rates} per 1M")
    lines.append(f"differing rates: {len(report.differing)}")
    for d in report.differing:
        ours = _money(d.ours) or "none"
        lines.append(
            f"  {d.model} {d.field}: ours {ours}, litellm {_money(d.theirs)} ({d.price_id})"
        )
    lines.append(f"matching: {report.matching} models")
    return lines


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")
