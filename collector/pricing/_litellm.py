"""Read LiteLLM's ``model_prices_and_context_window.json`` into per-1M-token prices.

LiteLLM stores USD *per token* as JSON floats (``2.5e-06``). Converting through the float
(``2.5e-06 * 1e6``) gives ``2.4999999999999996``; we go through the float's shortest text
instead, so the per-1M price is exactly what the file says. Pure: a mapping in, values out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from collector.pricing._types import PriceOverride

OPENAI_PROVIDERS = frozenset({"openai", "text-completion-openai"})
_MILLION = Decimal(1_000_000)
# LiteLLM per-token field -> our per-1M field.
_TOKEN_FIELDS = {
    "input_cost_per_token": "input",
    "cache_read_input_token_cost": "cached_input",
    "output_cost_per_token": "output",
    "input_cost_per_token_batches": "batch_input",
    "output_cost_per_token_batches": "batch_output",
}
# Descriptive fields we read or knowingly skip; anything else is reported as ignored.
_METADATA_FIELDS = frozenset(
    {"litellm_provider", "mode", "source", "metadata", "deprecation_date", "key"}
    | {"supported_endpoints", "supported_modalities", "supported_output_modalities"}
    | {"supported_regions", "tool_use_system_prompt_tokens", "output_vector_size"}
)
_METADATA_PREFIXES = ("supports_", "max_")


@dataclass(frozen=True, slots=True)
class ImportedPrice:
    """One OpenAI model's token prices from LiteLLM, converted to USD per 1M tokens."""

    key: str
    model: str
    mode: str | None
    input: Decimal
    cached_input: Decimal | None = None
    output: Decimal | None = None
    batch_input: Decimal | None = None
    batch_output: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What was imported, and a summary of what was not (and why)."""

    prices: tuple[ImportedPrice, ...]
    skipped: Mapping[str, int] = field(default_factory=dict)
    skipped_keys: tuple[str, ...] = ()
    ignored_fields: Mapping[str, int] = field(default_factory=dict)

    def to_overrides(
        self, effective_from: datetime, *, note: str = "imported from LiteLLM"
    ) -> list[PriceOverride]:
        """Overrides carrying the imported standard rates (the table has no batch columns)."""
        return [
            PriceOverride(
                model=price.model,
                effective_from=effective_from,
                input_per_1m=price.input,
                cached_input_per_1m=price.cached_input,
                output_per_1m=price.output,
                note=note,
            )
            for price in self.prices
        ]

    def summary(self) -> list[str]:
        """Human-readable lines: counts imported, skipped by reason, fields ignored."""
        lines = [f"imported {len(self.prices)} OpenAI model prices"]
        for reason, count in sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"skipped {count} keys: {reason}")
        if self.ignored_fields:
            fields = ", ".join(f"{k} ({v})" for k, v in sorted(self.ignored_fields.items()))
            lines.append(f"ignored fields: {fields}")
        return lines


def parse_litellm_prices(data: Mapping[str, Any]) -> ImportResult:
    """OpenAI token prices from LiteLLM's price map; other providers are counted, not read."""
    prices: list[ImportedPrice] = []
    skipped: Counter[str] = Counter()
    skipped_keys: list[str] = []
    ignored: Counter[str] = Counter()
    for key, raw in data.items():
        if key == "sample_spec":
            skipped["LiteLLM's sample_spec"] += 1
            continue
        if not isinstance(raw, Mapping):
            skipped["not an object"] += 1
            skipped_keys.append(key)
            continue
        provider = raw.get("litellm_provider")
        if provider not in OPENAI_PROVIDERS:
            skipped[f"provider {provider or 'missing'}"] += 1
            continue
        reason = _read_entry(key, raw, prices, ignored)
        if reason is not None:
            skipped[reason] += 1
            skipped_keys.append(key)
    return ImportResult(tuple(prices), dict(skipped), tuple(skipped_keys), dict(ignored))


def _read_entry(
    key: str, raw: Mapping[str, Any], out: list[ImportedPrice], ignored: Counter[str]
) -> str | None:
    """Append the entry's price to ``out``; return why it was skipped, if it was."""
    values: dict[str, Decimal] = {}
    for litellm_field, ours in _TOKEN_FIELDS.items():
        value = raw.get(litellm_field)
        if value is None:
            continue
        converted = per_million(value)
        if converted is None:
            return f"invalid {litellm_field}"
        values[ours] = converted
    for name in raw:
        if name not in _TOKEN_FIELDS and not _is_metadata(name):
            ignored[name] += 1
    if "input" not in values:
        return "no per-token input price (not a token-priced model)"
    mode = raw.get("mode")
    model = _override_model(key)
    out.append(ImportedPrice(key=key, model=model, mode=str(mode) if mode else None, **values))
    return None


def per_million(value: Any) -> Decimal | None:
    """USD per token (JSON number or text) → exact USD per 1M tokens; None if not a price."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return None
    if not number.is_finite() or number < 0:
        return None
    return number * _MILLION


def _override_model(key: str) -> str:
    """The override pattern for a LiteLLM key; a fine-tuned base matches its tuned models."""
    name = key.removeprefix("openai/")
    return f"{name}:*" if name.startswith("ft:") else name


def _is_metadata(name: str) -> bool:
    return name in _METADATA_FIELDS or name.startswith(_METADATA_PREFIXES)
