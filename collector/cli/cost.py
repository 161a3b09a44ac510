"""``spendscope cost``: price one request, from token flags or the API's own usage object.

``--usage FILE|-`` takes the ``usage`` object exactly as the endpoint returned it, so a bill
line can be checked by hand; ``--json`` adds a ``breakdown`` (units × rate = amount per
priced part) that sums exactly to ``cost_usd``. Bad input: one line, exit 2; no price: 3.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from collector.cli.common import fail
from collector.cli.flags import EXIT_UNPRICED, configured_overrides, count_flag, instant_flag

if TYPE_CHECKING:
    from collector.pricing import PricedPart
    from collector.usage import Cost, Usage

_TOOL = re.compile(r"^\s*([a-z_]+)\s*=\s*(\d+)\s*$")


# The command's options, one alias each, so its signature reads as a list of flags.
_Model = Annotated[str | None, typer.Option(metavar="MODEL", help="Model that served it.")]
_UsageFile = Annotated[
    str | None,
    typer.Option("--usage", metavar="FILE|-", help="The endpoint's usage object (JSON)."),
]
_Endpoint = Annotated[
    str | None,
    typer.Option(
        metavar="ENDPOINT",
        help="chat, responses, embeddings, completions, images, speech, transcription, "
        "realtime (default: from the usage).",
    ),
]
_Tools = Annotated[
    str | None, typer.Option(metavar="TOOL=N,…", help="Built-in tool calls, e.g. web_search=2.")
]
_Prompt = Annotated[str | None, typer.Option(metavar="N", help="Prompt tokens (incl. cached).")]
_Completion = Annotated[
    str | None, typer.Option(metavar="N", help="Completion tokens (incl. reasoning).")
]
_Cached = Annotated[str, typer.Option(metavar="N", help="Cached prompt tokens.")]
_Reasoning = Annotated[str, typer.Option(metavar="N", help="Reasoning tokens.")]
_Batch = Annotated[bool, typer.Option(help="Priced at Batch API rates.")]
_Regional = Annotated[
    bool,
    typer.Option(help="Served by a regional-processing (data residency) endpoint: adds uplift."),
]
_Tier = Annotated[
    str | None,
    typer.Option(metavar="TIER", help="Tier that served it: default, flex, priority, fast…"),
]
_At = Annotated[
    str | None, typer.Option(metavar="ISO-8601", help="Instant (UTC if no offset); default now.")
]
_Json = Annotated[bool, typer.Option("--json", help="Print JSON with a breakdown.")]


def cost(
    model: _Model = None,
    usage_file: _UsageFile = None,
    endpoint: _Endpoint = None,
    tool_calls: _Tools = None,
    prompt_tokens: _Prompt = None,
    completion_tokens: _Completion = None,
    cached_tokens: _Cached = "0",
    reasoning_tokens: _Reasoning = "0",
    batch: _Batch = False,
    regional: _Regional = False,
    service_tier: _Tier = None,
    at: _At = None,
    as_json: _Json = False,
) -> None:
    """Compute the exact cost of one request from its usage object or token counts."""
    from collector.errors import PricingError
    from collector.pricing import cost_breakdown, parse_service_tier
    from collector.usage import CostSource

    if not model:
        fail("--model is required")
    when = instant_flag(at, "--at")
    tokens = (prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens)
    try:
        read, note = _usage(usage_file, endpoint, *tokens)
        usage = _with_tools(read, tool_calls)
        parse_service_tier(service_tier)
        overrides = configured_overrides()
        result, parts = cost_breakdown(
            usage, model, when, batch=batch, service_tier=service_tier, overrides=overrides,
            regional=regional,
        )  # fmt: skip
    except PricingError as exc:
        fail(str(exc))
    if note is not None and result.cost_source is CostSource.COMPUTED:
        result = replace(result, cost_source=CostSource.ESTIMATED, note=note)
    _print(model, result, parts, as_json=as_json)


def _usage(
    file: str | None,
    endpoint: str | None,
    prompt: str | None,
    completion: str | None,
    cached: str,
    reasoning: str,
) -> tuple[Usage, str | None]:
    """The usage to price, and why its cost is only an estimate (if it is)."""
    from collector.pricing import guess_endpoint, modality_note, usage_from_api
    from collector.usage import Usage

    if file is None:
        if endpoint is not None:
            fail("--endpoint goes with --usage")
        usage = Usage(
            prompt_tokens=count_flag(prompt, "--prompt-tokens", required=True),
            completion_tokens=count_flag(completion, "--completion-tokens", required=True),
            cached_tokens=count_flag(cached, "--cached-tokens"),
            reasoning_tokens=count_flag(reasoning, "--reasoning-tokens"),
        )
        if usage.cached_tokens > usage.prompt_tokens:
            fail("--cached-tokens cannot exceed --prompt-tokens")
        if usage.reasoning_tokens > usage.completion_tokens:
            fail("--reasoning-tokens cannot exceed --completion-tokens")
        return usage, None
    if prompt is not None or completion is not None or (cached, reasoning) != ("0", "0"):
        fail("--usage replaces the token flags; give one or the other")
    data = _read_usage(file)
    reader = endpoint or guess_endpoint(data)
    return usage_from_api(reader, data), modality_note(reader, data)


def _read_usage(file: str) -> Any:
    """The JSON usage object from FILE or stdin (``-``); a response holding one is accepted."""
    try:
        if file == "-":
            text = sys.stdin.read()
        else:
            with open(file, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        fail(f"cannot read {file}: {reason}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{file} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    if isinstance(data, dict) and isinstance(data.get("usage"), dict):
        data = data["usage"]
    return data


def _with_tools(usage: Usage, spec: str | None) -> Usage:
    from collector.usage import TOOL_CALL_NAMES

    if spec is None:
        return usage
    counts: dict[str, Any] = {}
    for item in spec.split(","):
        found = _TOOL.match(item)
        if found is None or found[1] not in TOOL_CALL_NAMES:
            known = ", ".join(TOOL_CALL_NAMES)
            fail(f"--tool-calls takes TOOL=N pairs (N >= 0; tools: {known}), got {item!r}")
        counts[TOOL_CALL_NAMES[found[1]]] = int(found[2])
    return replace(usage, **counts)


def _print(model: str, result: Cost, parts: tuple[PricedPart, ...], *, as_json: bool) -> None:
    amount = None if result.cost_usd is None else _money(result.cost_usd)
    if as_json:
        payload = {
            "model": model,
            "cost_usd": amount,
            "cost_source": result.cost_source.value,
            "price_id": result.price_id,
            **({"note": result.note} if result.note else {}),
            "breakdown": [_part(p) for p in parts],
        }
        typer.echo(json.dumps(payload))
    elif amount is None:
        why = result.note or "no price known for this model"
        typer.echo(f"{model}: unpriced ({why})")
    else:
        typer.echo(f"{model}: ${amount} ({result.cost_source.value}, price {result.price_id})")
        if result.note:
            typer.echo(f"note: {result.note}", err=True)
    if amount is None:
        raise typer.Exit(EXIT_UNPRICED)


def _part(p: PricedPart) -> dict[str, str]:
    return {
        "part": p.name,
        "units": _money(p.units),
        "rate": _money(p.rate),
        "per": p.unit,
        "amount": _money(p.amount),
    }


def _money(value: Decimal) -> str:
    return format(value, "f")
