"""Scripted faults: per-attempt sequences from a header, and seeded random faults from a file.

Tests need faults that are exactly reproducible (``x-mock-fault: 429,500,ok`` keyed by
``x-mock-scenario``); the demo needs occasional faults that look organic but replay the same way
for a given seed (a scenario file).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeGuard

import yaml

FaultKind = Literal["ok", "429", "500", "502", "503", "timeout", "reset", "cut", "malformed"]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "ok",
    "429",
    "500",
    "502",
    "503",
    "timeout",
    "reset",
    "cut",
    "malformed",
)
# Kinds that accept "@value": 429@seconds, timeout@seconds, cut@events-before-close.
_VALUED: frozenset[str] = frozenset({"429", "timeout", "cut"})
_RULE_KEYS = frozenset({"path", "model", "faults", "latency_ms"})


class ScenarioError(ValueError):
    """A fault header or scenario file that cannot be understood; the message is one line."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted outcome of one attempt; ``value`` is the optional ``@`` argument."""

    kind: FaultKind
    value: float | None = None


OK = Fault("ok")


@lru_cache(maxsize=1024)
def parse_faults(spec: str) -> tuple[Fault, ...]:
    """Parse ``"429@0.05,500,ok"``; cached because clients resend the same header on retries."""
    faults = []
    for raw in spec.split(","):
        faults.append(_parse_one(raw.strip()))
    if not faults:
        raise ScenarioError("empty fault sequence")
    return tuple(faults)


def _is_kind(kind: str) -> TypeGuard[FaultKind]:
    return kind in FAULT_KINDS


def _parse_one(item: str) -> Fault:
    kind, _, value = item.partition("@")
    kind = kind.strip().lower()
    if not _is_kind(kind):
        raise ScenarioError(f"unknown fault {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
    if not value:
        return Fault(kind)
    if kind not in _VALUED:
        raise ScenarioError(f"fault {kind!r} takes no @value")
    try:
        number = float(value)
    except ValueError:
        raise ScenarioError(f"fault {item!r}: @value must be a number") from None
    if number < 0:
        raise ScenarioError(f"fault {item!r}: @value must be >= 0")
    return Fault(kind, number)


@dataclass(frozen=True, slots=True)
class Rule:
    """Faults for requests whose path equals ``path`` and whose model starts with ``model``."""

    faults: tuple[tuple[Fault, float], ...]
    path: str | None = None
    model: str | None = None
    latency_ms: float | None = None

    def matches(self, path: str, model: str | None) -> bool:
        if self.path is not None and self.path != path:
            return False
        return self.model is None or (model is not None and model.startswith(self.model))


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed scenario file: first matching rule wins; ``seed`` overrides the CLI seed."""

    rules: tuple[Rule, ...] = ()
    seed: int | None = None


def load_scenario(path: str | Path) -> Scenario:
    """Read a YAML or JSON scenario file, raising :class:`ScenarioError` with a one-line reason."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScenarioError(f"scenario file {path} is not valid YAML/JSON: {first}") from None
    try:
        return scenario_from_dict(data)
    except ScenarioError as exc:
        raise ScenarioError(f"scenario file {path}: {exc}") from None


def scenario_from_dict(data: Any) -> Scenario:
    """Validate an already-parsed scenario document (also used by tests, without a file)."""
    if not isinstance(data, Mapping):
        raise ScenarioError("top level must be a mapping with 'rules'")
    unknown = set(data) - {"rules", "seed"}
    if unknown:
        raise ScenarioError(f"unknown top-level keys: {', '.join(sorted(map(str, unknown)))}")
    seed = data.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ScenarioError("'seed' must be an integer")
    rules = data.get("rules", [])
    if not isinstance(rules, list):
        raise ScenarioError("'rules' must be a list")
    return Scenario(tuple(_rule(i, r) for i, r in enumerate(rules)), seed)


def _rule(index: int, raw: Any) -> Rule:
    where = f"rules[{index}]"
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where} must be a mapping")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown keys: {', '.join(sorted(map(str, unknown)))}")
    for key in ("path", "model"):
        if key in raw and not isinstance(raw[key], str):
            raise ScenarioError(f"{where}.{key} must be a string")
    latency = raw.get("latency_ms")
    if latency is not None and (not isinstance(latency, int | float) or latency < 0):
        raise ScenarioError(f"{where}.latency_ms must be a number >= 0")
    return Rule(_weights(where, raw.get("faults", {})), raw.get("path"), raw.get("model"), latency)


def _weights(where: str, raw: Any) -> tuple[tuple[Fault, float], ...]:
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}.faults must map fault -> probability")
    weights: list[tuple[Fault, float]] = []
    for spec, probability in raw.items():
        fault = _parse_one(str(spec))
        if not isinstance(probability, int | float) or not 0 <= probability <= 1:
            raise ScenarioError(f"{where}.faults[{spec!r}] must be a probability in [0, 1]")
        weights.append((fault, float(probability)))
    if sum(p for _, p in weights) > 1 + 1e-9:
        raise ScenarioError(f"{where}.faults probabilities sum to more than 1")
    return tuple(weights)


@dataclass
class FaultPlanner:
    """Decides each attempt's fault; owns the per-scenario attempt counters and the seeded RNG."""

    scenario: Scenario | None
    seed: int
    attempts: dict[str, int] = field(default_factory=dict)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        seed = self.scenario.seed if self.scenario and self.scenario.seed is not None else self.seed
        self._rng = random.Random(seed)  # noqa: S311 - fake traffic or text, not a secret

    def pick(
        self, spec: str | None, scenario_id: str | None, path: str, model: str | None
    ) -> tuple[Fault, float | None]:
        """The fault for this attempt and a rule's extra latency (ms), if any."""
        if scenario_id is not None:
            self.attempts[scenario_id] = self.attempts.get(scenario_id, 0) + 1
        if spec is not None:
            faults = parse_faults(spec)
            attempt = self.attempts.get(scenario_id, 1) if scenario_id is not None else 1
            return faults[min(attempt, len(faults)) - 1], None
        if self.scenario is None:
            return OK, None
        for rule in self.scenario.rules:
            if rule.matches(path, model):
                return self._draw(rule.faults), rule.latency_ms
        return OK, None

    def _draw(self, weights: tuple[tuple[Fault, float], ...]) -> Fault:
        roll = self._rng.random()
        for fault, probability in weights:
            if roll < probability:
                return fault
            roll -= probability
        return OK
