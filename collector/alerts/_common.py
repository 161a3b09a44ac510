"""Small pure helpers every rule kind shares: windows, bounded numbers and dedup keys."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from collector.alerts._types import AlertConfigError, Rule

MAX_KEY = 360  # alert_events.dedup_key holds 400; resolution appends a suffix
_DURATION = re.compile(r"(\d+)([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: Any) -> timedelta:
    found = _DURATION.fullmatch(str(text).strip())
    if found is None or int(found[1]) == 0:
        raise AlertConfigError(f"bad window {text!r}; use e.g. 5m, 1h, 6h, 1d")
    return timedelta(**{_UNITS[found[2]]: int(found[1])})


def number(params: Mapping[str, Any], name: str, low: Decimal, high: Decimal) -> Decimal:
    try:
        value = Decimal(str(params[name]))
    except (InvalidOperation, KeyError):
        raise AlertConfigError(f"parameter {name} must be a number") from None
    if not low <= value <= high:
        raise AlertConfigError(f"parameter {name} must be within {low}..{high}, got {value}")
    return value


def dedup_key(rule: Rule, *parts: object) -> str:
    """``rule id | scope | parts…``, cut to fit the column."""
    return "|".join([str(rule.id), str(rule.scope), *(str(p) for p in parts)])[:MAX_KEY]
