"""The declarative base and its metadata, shared by the entity models and the rollup tables."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, cast

from sqlalchemy import JSON, MetaData, Table
from sqlalchemy.orm import DeclarativeBase

from collector.db.types import Money, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        Decimal: Money,
        datetime: UTCDateTime,
    }


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, typed as the ``Table`` it is (for Core inserts and selects)."""
    return cast(Table, model.__table__)
