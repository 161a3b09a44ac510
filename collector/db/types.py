"""Column types that keep time and money exact on both SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

from collector.units import MONEY_SCALE, MONEY_UNIT

__all__ = ["MONEY_SCALE", "Money", "UTCDateTime", "money_to_sql"]

_UNIT = MONEY_UNIT


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as naive UTC, returned timezone-aware; naive input is rejected."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; spendscope stores UTC-aware datetimes only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)  # noqa: S101 - type narrowing: the branch above handled every other type
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """Exact USD amounts at 1e-10 resolution.

    PostgreSQL stores NUMERIC(20, 10). SQLite has no decimal type (NUMERIC there means
    REAL, i.e. float), so it stores an INTEGER count of 1e-10 USD: sums stay exact in SQL.
    """

    impl = Numeric(20, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(20, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        quantized = Decimal(value).quantize(_UNIT)
        if dialect.name == "sqlite":
            return int(quantized.scaleb(MONEY_SCALE))
        return quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-MONEY_SCALE).quantize(_UNIT)
        return Decimal(value).quantize(_UNIT)


def money_to_sql(value: Decimal, dialect_name: str) -> Any:
    """The stored form of an amount, for bulk paths that bypass the type (rollup upserts)."""
    quantized = value.quantize(_UNIT)
    return int(quantized.scaleb(MONEY_SCALE)) if dialect_name == "sqlite" else quantized
