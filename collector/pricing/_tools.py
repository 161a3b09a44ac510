"""Built-in tool fees: per-call prices of web search, file search, code interpreter, … as data.

OpenAI bills a Responses call's built-in tools per call on top of its tokens, at a rate that
depends on the tool and the model family (web search preview costs a reasoning model less
per call than a non-reasoning one). Each catalog ``tools`` entry names a tool, the model
globs it covers and its per-call price, in force from ``effective_from``; for one model the
entry with the most specific glob wins, then the latest start. Read from ``catalog.yaml``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

from collector.pricing._values import instant, required_price

# Tool name → the usage field that counts its calls (collector.usage.TOOL_CALL_FIELDS).
TOOL_FIELDS: Mapping[str, str] = {
    "web_search": "web_search_calls",
    "web_search_preview": "web_search_preview_calls",
    "file_search": "file_search_calls",
    "code_interpreter": "code_interpreter_sessions",
    "image_generation": "image_generation_calls",
    "computer": "computer_calls",
}
_KEYS = frozenset(
    {"id", "tool", "models", "effective_from", "source", "note", "per_call"}
    | {"per_1k_calls", "input_tokens_per_call", "per_variant"}
)


@dataclass(frozen=True, slots=True)
class ToolPrice:
    """The per-call price of one built-in tool for the models its globs cover."""

    id: str
    tool: str
    models: tuple[str, ...]
    effective_from: datetime
    source: str
    per_call: Decimal
    input_tokens_per_call: int = 0  # a fixed block of input tokens billed per call
    per_variant: Mapping[str, Decimal] = field(default_factory=dict)  # "quality/size"
    note: str | None = None

    @property
    def simple_micro(self) -> int | None:
        """``per_call`` × 1M as an integer when that is all there is to it (fast int sums)."""
        if self.per_variant or self.input_tokens_per_call:
            return None
        micro = self.per_call * 1_000_000
        return int(micro) if micro == micro.to_integral_value() else None

    def rate(self, variant: str | None) -> Decimal:
        """The per-call price for an image ``quality/size`` variant (else ``per_call``)."""
        if variant is not None and variant in self.per_variant:
            return self.per_variant[variant]
        return self.per_call


class ToolCatalog:
    """Tool prices by tool, resolved per model and instant."""

    def __init__(self, prices: Sequence[ToolPrice]) -> None:
        self.prices = tuple(prices)
        self.starts = tuple(sorted({p.effective_from for p in self.prices}))

    def rates(self, model: str, at: datetime) -> dict[str, ToolPrice]:
        """For each tool, the price in force for ``model`` at ``at`` (tools without one: absent)."""
        best: dict[str, tuple[tuple[int, datetime], ToolPrice]] = {}
        for price in self.prices:
            if price.effective_from > at:
                continue
            rank = _specificity(price.models, model)
            if rank < 0:
                continue
            key = (rank, price.effective_from)
            known = best.get(price.tool)
            if known is None or key > known[0]:
                best[price.tool] = (key, price)
        return {tool: found[1] for tool, found in best.items()}

    def window(self, at: datetime, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """Narrow [start, end) to the span in which no tool price starts."""
        index = bisect_right(self.starts, at)
        if index > 0:
            start = max(start, self.starts[index - 1])
        if index < len(self.starts):
            end = min(end, self.starts[index])
        return start, end


def _specificity(globs: tuple[str, ...], model: str) -> int:
    """How closely the globs name ``model``: exact beats any glob; longer globs beat shorter."""
    rank = -1
    for glob in globs:
        if glob == model:
            return 10_000
        if fnmatchcase(model, glob):
            rank = max(rank, len(glob.replace("*", "")))
    return rank


def parse_tool(raw: Any, index: int) -> ToolPrice:
    """One ``tools`` entry of the catalog, checked (ValueError names the problem)."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"tools entry #{index} is not a mapping")
    where = f"tools entry {raw.get('id', f'#{index}')!r}"
    unknown = set(raw) - _KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    tool = raw.get("tool")
    if tool not in TOOL_FIELDS:
        raise ValueError(f"{where}: tool must be one of {sorted(TOOL_FIELDS)}")
    for name in ("id", "source"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise ValueError(f"{where}: '{name}' is required (a non-empty string)")
    models = raw.get("models")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise ValueError(f"{where}: 'models' must be a list of model names or globs")
    return ToolPrice(
        id=raw["id"],
        tool=str(tool),
        models=tuple(models),
        effective_from=instant(raw.get("effective_from")),
        source=raw["source"].strip(),
        per_call=_per_call(raw, where),
        input_tokens_per_call=int(raw.get("input_tokens_per_call") or 0),
        per_variant={
            str(k): required_price(v, str(k)) for k, v in (raw.get("per_variant") or {}).items()
        },
        note=raw.get("note"),
    )


def _per_call(raw: Mapping[str, Any], where: str) -> Decimal:
    if ("per_call" in raw) == ("per_1k_calls" in raw):
        raise ValueError(f"{where}: give exactly one of per_call and per_1k_calls")
    if "per_call" in raw:
        return required_price(raw["per_call"], "per_call")
    return required_price(raw["per_1k_calls"], "per_1k_calls") / 1000
