"""The shipped price catalog: parsed from ``catalog.yaml`` once, checked, indexed by name.

Prices are read from YAML as ``Decimal`` straight from their text (never through float),
and the schema is checked on load so that a bad edit fails loudly instead of mispricing.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from functools import cache
from importlib import resources
from typing import Any

from collector.errors import PricingError
from collector.pricing._tools import ToolCatalog, parse_tool
from collector.pricing._types import LongContext, PriceEntry, TierRates, Unit
from collector.pricing._values import instant as _instant
from collector.pricing._values import optional_price as _price
from collector.pricing._values import required_price as _required_price
from collector.pricing._values import to_decimal as _to_decimal
from collector.providers import OPENAI, check_provider

_ENTRY_KEYS = frozenset(
    {"id", "model", "family", "aliases", "patterns", "effective_from", "mode", "unit"}
    | {"source", "note", "prices", "provider"}
)
# Per-unit prices an entry may carry (each optional); also what `prices show` prints.
SCALAR_PRICES = (
    "input",
    "cached_input",
    "output",
    "audio_input",
    "audio_output",
    "image_input",
    "image_output",
    "cached_audio_input",
    "per_minute",
    "per_1m_characters",
)
_TIER_PRICES = ("flex", "priority", "scale", "ultrafast")
_MODE_PRICES = ("batch", *_TIER_PRICES)
_PRICE_KEYS = frozenset(
    {*SCALAR_PRICES, *_MODE_PRICES, "per_image", "long_context", "regional_uplift_pct"}
    | {"cache_write_factor"}
)
_LONG_KEYS = frozenset({"above_input_tokens", "input_factor", "output_factor", "modes"})
_MODES = frozenset({"standard", "batch", *_TIER_PRICES})
_TIER_KEYS = frozenset({"input", "cached_input", "output"})
_DATED_SUFFIX = re.compile(r"^(?P<base>.+?)-(?:\d{4}-\d{2}-\d{2}|\d{4})$")
_MEMO_LIMIT = 10_000
_NEVER = datetime.min.replace(tzinfo=UTC)
_FOREVER = datetime.max.replace(tzinfo=UTC)


class Catalog:
    """Price entries indexed by every name and pattern they answer to, in time order."""

    def __init__(self, entries: Sequence[PriceEntry], tools: ToolCatalog | None = None) -> None:
        self.entries: tuple[PriceEntry, ...] = tuple(entries)
        self.tools = tools or ToolCatalog(())
        timelines: dict[str, list[PriceEntry]] = {}
        for entry in self.entries:
            for name in (*entry.names, *entry.patterns):
                timelines.setdefault(name, []).append(entry)
        self._timelines = {k: tuple(sorted(v, key=_start)) for k, v in timelines.items()}
        self._starts = {k: [e.effective_from for e in v] for k, v in self._timelines.items()}
        patterns = {p for e in self.entries for p in e.patterns}
        self._patterns = sorted(patterns, key=lambda p: (-len(p), p))
        self._pattern_set = frozenset(patterns)
        self._memo: dict[str, str | None] = {}

    def key_for(self, model: str) -> str | None:
        """The index key a model name resolves to: exact, pattern, then dated family."""
        try:
            return self._memo[model]
        except KeyError:
            key = self._find_key(model)
            if len(self._memo) < _MEMO_LIMIT:
                self._memo[model] = key
            return key

    def _find_key(self, model: str) -> str | None:
        if model in self._timelines:
            return model
        for pattern in self._patterns:
            if fnmatchcase(model, pattern):
                return pattern
        dated = _DATED_SUFFIX.match(model)
        if dated is not None and dated["base"] in self._timelines:
            return dated["base"]
        return None

    def assumed(self, model: str) -> bool:
        """True when ``model`` is a dated snapshot no entry lists: priced as its undated name.

        Such a price is an assumption (a snapshot may cost more or less than its alias), so
        the engine books it ``estimated`` with a note, never ``computed``.
        """
        key = self.key_for(model)
        return key is not None and key != model and key not in self._pattern_set

    def resolve(self, model: str, at: datetime) -> PriceEntry | None:
        """The entry in force for ``model`` at ``at`` (latest ``effective_from`` <= ``at``)."""
        key = self.key_for(model)
        if key is None:
            return None
        index = bisect_right(self._starts[key], at) - 1
        return self._timelines[key][index] if index >= 0 else None

    def span(self, model: str, at: datetime) -> tuple[PriceEntry | None, datetime, datetime]:
        """:meth:`resolve`, with the window [start, end) in which that answer holds."""
        key = self.key_for(model)
        if key is None:
            return None, _NEVER, _FOREVER
        starts = self._starts[key]
        index = bisect_right(starts, at) - 1
        start = starts[index] if index >= 0 else _NEVER
        end = starts[index + 1] if index + 1 < len(starts) else _FOREVER
        return (self._timelines[key][index] if index >= 0 else None), start, end

    def families(self) -> tuple[str, ...]:
        return tuple(sorted({e.family for e in self.entries}))


@cache
def load_catalog() -> Catalog:
    """The catalog shipped in the package, parsed and checked on first use."""
    text = resources.files("collector.pricing").joinpath("catalog.yaml").read_text("utf-8")
    return parse_catalog(text)


def parse_catalog(text: str) -> Catalog:
    """Parse and check catalog YAML; raise PricingError naming the first problem."""
    import yaml

    class _DecimalLoader(yaml.SafeLoader):
        """SafeLoader that reads YAML floats as exact Decimals."""

    def _decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
        assert isinstance(node, yaml.ScalarNode)  # noqa: S101 - type narrowing
        return _to_decimal(loader.construct_scalar(node), "a float")

    _DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)
    try:
        data = yaml.load(text, Loader=_DecimalLoader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, ValueError) as exc:
        raise PricingError(f"catalog is not valid YAML: {exc}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("entries"), list):
        raise PricingError("catalog must be a mapping with an 'entries' list")
    entries = [_parse_entry(raw, i) for i, raw in enumerate(data["entries"])]
    _check_unique(entries)
    return Catalog(entries, _parse_tools(data.get("tools") or []))


def _parse_tools(raw: Any) -> ToolCatalog:
    if not isinstance(raw, list):
        raise PricingError("catalog 'tools' must be a list")
    try:
        prices = [parse_tool(item, i) for i, item in enumerate(raw)]
    except ValueError as exc:
        raise PricingError(f"catalog {exc}") from None
    ids = [p.id for p in prices]
    if len(set(ids)) != len(ids):
        raise PricingError("catalog has duplicate tool price ids")
    return ToolCatalog(prices)


def _parse_entry(raw: Any, index: int) -> PriceEntry:
    if not isinstance(raw, Mapping):
        raise PricingError(f"catalog entry #{index} is not a mapping")
    where = f"catalog entry {raw.get('id', f'#{index}')!r}"
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise PricingError(f"{where}: unknown keys {sorted(unknown)}")
    for name in ("id", "model", "family", "source"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise PricingError(f"{where}: '{name}' is required (a non-empty string)")
    if not raw["id"].startswith(raw["model"] + "@"):
        raise PricingError(f"{where}: id must read '<model>@<date>'")
    prices = raw.get("prices")
    if not isinstance(prices, Mapping):
        raise PricingError(f"{where}: 'prices' is required (a mapping)")
    try:
        entry = _build_entry(raw, prices, where)
    except ValueError as exc:
        raise PricingError(f"{where}: {exc}") from None
    _check_unit(entry, where)
    return entry


def _build_entry(raw: Mapping[str, Any], prices: Mapping[str, Any], where: str) -> PriceEntry:
    unknown = set(prices) - _PRICE_KEYS
    if unknown:
        raise ValueError(f"unknown price keys {sorted(unknown)}")
    scalars = {name: _price(prices.get(name), name) for name in SCALAR_PRICES}
    tiers = {t: _tier(prices[t], t) for t in _TIER_PRICES if t in prices}
    batch = _tier(prices["batch"], "batch") if "batch" in prices else None
    per_image = prices.get("per_image") or {}
    if not isinstance(per_image, Mapping):
        raise ValueError("per_image must map 'quality/size' to a price")
    return PriceEntry(
        id=raw["id"],
        model=raw["model"],
        family=raw["family"],
        effective_from=_instant(raw.get("effective_from")),
        source=raw["source"].strip(),
        mode=str(raw.get("mode", "chat")),
        unit=Unit(raw.get("unit", "token")),
        aliases=_names(raw.get("aliases"), "aliases"),
        patterns=_names(raw.get("patterns"), "patterns"),
        batch=batch,
        tiers=tiers,
        per_image={str(k): _required_price(v, f"per_image {k}") for k, v in per_image.items()},
        long_context=_long_context(prices.get("long_context")),
        regional_uplift_pct=_price(prices.get("regional_uplift_pct"), "regional_uplift_pct"),
        cache_write_factor=_price(prices.get("cache_write_factor"), "cache_write_factor"),
        note=raw.get("note"),
        provider=check_provider(str(raw.get("provider", OPENAI))),
        **scalars,
    )


def _check_unit(entry: PriceEntry, where: str) -> None:
    needs = {
        Unit.TOKEN: entry.input is not None or entry.output is not None,
        Unit.MINUTE: entry.per_minute is not None,
        Unit.CHARACTER: entry.per_1m_characters is not None,
        Unit.IMAGE: bool(entry.per_image),
    }
    if not needs[entry.unit]:
        raise PricingError(f"{where}: unit {entry.unit.value!r} has no price to bill it")


def _check_unique(entries: Iterable[PriceEntry]) -> None:
    ids: set[str] = set()
    starts: set[tuple[str, datetime]] = set()
    for entry in entries:
        if entry.id in ids:
            raise PricingError(f"catalog has duplicate id {entry.id!r}")
        ids.add(entry.id)
        for name in (*entry.names, *entry.patterns):
            if (name, entry.effective_from) in starts:
                raise PricingError(
                    f"catalog has two prices for {name!r} from {entry.effective_from.isoformat()}"
                )
            starts.add((name, entry.effective_from))


def _tier(raw: Any, name: str) -> TierRates:
    if not isinstance(raw, Mapping) or not raw or set(raw) - _TIER_KEYS:
        raise ValueError(f"{name} must map some of {sorted(_TIER_KEYS)} to prices")
    return TierRates(
        input=_price(raw.get("input"), f"{name}.input"),
        cached_input=_price(raw.get("cached_input"), f"{name}.cached_input"),
        output=_price(raw.get("output"), f"{name}.output"),
    )


def _long_context(raw: Any) -> LongContext | None:
    """``long_context: {above_input_tokens: N, input_factor: F, output_factor: F, modes: […]}``."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) != _LONG_KEYS:
        raise ValueError(f"long_context must map exactly {sorted(_LONG_KEYS)}")
    threshold = raw["above_input_tokens"]
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
        raise ValueError("long_context.above_input_tokens must be a positive whole number")
    factors = [
        _required_price(raw[k], f"long_context.{k}") for k in ("input_factor", "output_factor")
    ]
    if any(f < 1 for f in factors):
        raise ValueError("long_context factors must be at least 1")
    modes = _names(raw["modes"], "long_context.modes")
    if not modes or set(modes) - _MODES:
        raise ValueError(f"long_context.modes must list some of {sorted(_MODES)}")
    return LongContext(threshold, factors[0], factors[1], frozenset(modes))


def _names(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{name} must be a list of non-empty strings")
    return tuple(value)


def _start(entry: PriceEntry) -> datetime:
    return entry.effective_from
