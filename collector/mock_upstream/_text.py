"""Deterministic pseudo-text whose token count every OpenAI tokenizer agrees on.

Each generated piece is exactly one token in both cl100k_base and o200k_base (a word with a
leading space, or ``,``/``.``), and the pre-tokenizer never merges neighbours, so the token count
of any streamed text equals the number of pieces: a gateway estimating usage from the stream
gets the same number the mock reports.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

_VOCABULARY = """
time system data model request value report budget team project account service cost usage token
limit stream process result signal metric event record batch queue window period forecast alert
number level state change rate error retry success failure latency summary detail section review
plan policy rule check update source target market price order income growth margin revenue
customer user client product feature release version support network server storage memory engine
cluster region simple clear quick steady careful useful common general recent current total annual
daily weekly monthly early later final major minor strong small large high low good better best new
old open shows keeps makes takes gives finds moves holds runs helps needs uses builds sends reads
writes tracks measures explains describes reduces improves increases supports provides follows
remains becomes and the of to in for with on at by from into over under about after before between
through during while because since when where which that this these those each every some many most
other such also often still only even just very more less much well then now here there again
always never group work world life part place case week company question point government home
water room area money story fact month lot right study book eye job word business issue side kind
head house friend hour game line end member law car city community name idea body information
"""
_WORDS = tuple(_VOCABULARY.split())
_STARTS = (
    "The",
    "This",
    "It",
    "We",
    "Our",
    "In",
    "For",
    "Each",
    "Most",
    "Many",
    "Some",
    "When",
    "After",
)


class TextBank:
    """A seeded corpus of single-token pieces; requests read windows of it by a key."""

    def __init__(self, seed: int, size: int = 8192) -> None:
        rng = random.Random(seed)  # noqa: S311 - fake traffic or text, not a secret
        pieces: list[str] = []
        starts: list[int] = []
        while len(pieces) < size:
            starts.append(len(pieces))
            pieces.append(" " + rng.choice(_STARTS))
            words = rng.randint(5, 16)
            for position in range(words):
                pieces.append(" " + rng.choice(_WORDS))
                if 2 < position < words - 1 and rng.random() < 0.08:
                    pieces.append(",")  # never before "." (",." would be a single token)
            pieces.append(".")
        self._pieces = pieces
        self._starts = starts

    def take(self, key: int, count: int) -> list[str]:
        """``count`` pieces starting at a sentence chosen by ``key``; the first has no space."""
        if count <= 0:
            return []
        pieces, size = self._pieces, len(self._pieces)
        start = self._starts[key % len(self._starts)]
        if start + count <= size:
            out = pieces[start : start + count]
        else:
            out = [pieces[(start + i) % size] for i in range(count)]
        out[0] = out[0].lstrip()
        return out


def tool_arguments(parameters: Any) -> dict[str, Any]:
    """Plausible arguments for a JSON-schema ``parameters`` object: first enum value, or a
    fixed value per type, for required properties (all properties when none are required)."""
    if not isinstance(parameters, Mapping):
        return {}
    properties = parameters.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    required = parameters.get("required") or list(properties)
    return {name: _value(properties.get(name)) for name in required if name in properties}


def _value(schema: Any) -> Any:
    if not isinstance(schema, Mapping):
        return "mock"
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    simple: dict[str, Any] = {"integer": 1, "number": 1.5, "boolean": True, "null": None}
    if kind in simple:
        return simple[kind]
    if kind == "array":
        return [_value(schema.get("items"))]
    if kind == "object":
        return tool_arguments(schema)
    return "mock"
