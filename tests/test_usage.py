"""``Usage`` builds as the dataclass would: its hand-written ``__init__`` (slot setters, for
speed) takes every field in order, by position or by name, with the fields' defaults."""

from __future__ import annotations

import inspect
from dataclasses import FrozenInstanceError, fields, replace
from decimal import Decimal
from typing import Any

import pytest

from collector.usage import Usage


def _values() -> dict[str, Any]:
    """A distinct value for every field (text for the two text fields)."""
    values: dict[str, Any] = {}
    for i, f in enumerate(fields(Usage), start=1):
        if f.name == "audio_seconds":
            values[f.name] = Decimal(f"{i}.5")
        elif f.name in ("image_size", "image_quality"):
            values[f.name] = f"{f.name}-{i}"
        else:
            values[f.name] = i
    return values


def test_positional_and_keyword_values_land_on_their_fields() -> None:
    values = _values()
    for usage in (Usage(*values.values()), Usage(**values)):
        assert {f.name: getattr(usage, f.name) for f in fields(Usage)} == values


def test_the_parameters_are_the_fields_with_their_defaults() -> None:
    params = list(inspect.signature(Usage.__init__).parameters.values())[1:]
    assert [p.name for p in params] == [f.name for f in fields(Usage)]
    assert [p.default for p in params] == [f.default for f in fields(Usage)]
    empty = Usage()
    assert all(getattr(empty, f.name) == f.default for f in fields(Usage))


def test_it_stays_frozen_hashable_and_replaceable() -> None:
    usage = Usage(9, 16)
    with pytest.raises(FrozenInstanceError):
        usage.prompt_tokens = 1  # type: ignore[misc]
    assert usage == Usage(prompt_tokens=9, completion_tokens=16)
    assert hash(usage) == hash(Usage(9, 16))
    assert replace(usage, cached_tokens=4) == Usage(9, 16, 4)
