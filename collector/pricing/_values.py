"""Reading catalog values: prices as exact ``Decimal`` (never through float), dates as instants."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any


def optional_price(value: Any, name: str) -> Decimal | None:
    return None if value is None else required_price(value, name)


def required_price(value: Any, name: str) -> Decimal:
    price = to_decimal(value, name)
    if price < 0:
        raise ValueError(f"{name} is negative ({price})")
    return price


def to_decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name} is not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("effective_from datetime needs a timezone")
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ValueError("effective_from is required (a date, in force from 00:00 UTC)")
