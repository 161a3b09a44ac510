"""The only writer of ``requests``/``attempts`` rows and their rollups, on an engine.

:func:`write_batch` runs ``_batch.write_events`` (one transaction a batch, idempotent on
request id) on a pooled connection of the engine. The plan it follows, and the writer
process's, comes from the schema here (:func:`write_plan`): each column's binding kind is
checked against SQLAlchemy's own type processor, so the writer process, which runs without
SQLAlchemy, stores exactly what the types would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Dialect, Engine, Float, Numeric, Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from collector.db.base import table_of
from collector.db.engine import normalize_url
from collector.db.models import (
    Attempt,
    Request,
    daily_error_rollups,
    daily_project_rollups,
    daily_rollups,
    daily_tag_rollups,
    daily_tier_rollups,
    daily_upstream_rollups,
    hourly_error_rollups,
    hourly_project_rollups,
    hourly_rollups,
    hourly_tag_rollups,
    hourly_tier_rollups,
)
from collector.db.types import Money, UTCDateTime
from collector.dbapi import ENGINE_CACHE_KIB, ConnectSpec, is_plain_file
from collector.errors import StorageError
from collector.recorder._batch import PoisonBatch, write_events
from collector.recorder._binds import conversion
from collector.recorder._plan import TablePlan, WritePlan
from collector.recorder.events import UsageEvent

__all__ = ["PoisonBatch", "connect_spec", "write_batch", "write_plan", "write_plan_for_url"]

_ROLLUP_KEYS = ("hour", "project_id", "api_key_id", "end_user", "model", "outcome")
_TAG_KEYS = ("hour", "tag", "project_id", "model", "outcome")
_ERROR_KEYS = (*_ROLLUP_KEYS, "error_type", "http_status")
_TIER_KEYS = (*_ROLLUP_KEYS, "tier")
_PROJECT_KEYS = ("hour", "project_id", "model", "outcome")
_UPSTREAM_KEYS = ("day", "upstream", "model", "outcome")


def _daily(keys: tuple[str, ...]) -> tuple[str, ...]:
    return ("day", *keys[1:])


_ROLLUPS: tuple[tuple[Table, tuple[str, ...]], ...] = (
    (hourly_rollups, _ROLLUP_KEYS),
    (daily_rollups, _daily(_ROLLUP_KEYS)),
    (hourly_tag_rollups, _TAG_KEYS),
    (daily_tag_rollups, _daily(_TAG_KEYS)),
    (hourly_error_rollups, _ERROR_KEYS),
    (daily_error_rollups, _daily(_ERROR_KEYS)),
    (hourly_tier_rollups, _TIER_KEYS),
    (daily_tier_rollups, _daily(_TIER_KEYS)),
    (hourly_project_rollups, _PROJECT_KEYS),
    (daily_project_rollups, _daily(_PROJECT_KEYS)),
    (daily_upstream_rollups, _UPSTREAM_KEYS),
)

_REFUSED = object()  # what a conversion that raised gave
# values each kind's conversion is checked on (besides None), against the type's processor
_SAMPLES: dict[str, tuple[Any, ...]] = {
    "float": (1.5, -0.0, 1e300, 2, Decimal("0.1"), True),
    "bool": (True, False, 0, 1, 2, "yes"),
    "utc": (
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 6, 1, 12, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 6, 1, 12),  # naive: refused
    ),
    "money": (
        Decimal("0.0001234567"),
        Decimal("12.34567890125"),
        Decimal("0.00000000015"),
        Decimal(0),
        Decimal(-3),
        7,
        "x",
    ),
    "json": ({}, {"team": "a"}, {"n": 1, "ok": True, "x": None}, [1, "two"], "text"),
}


_PLANS: dict[tuple[str, str], WritePlan] = {}


def write_plan(dialect: Dialect) -> WritePlan:
    """The writer's tables for ``dialect``, every binding checked against its type (once)."""
    key = (dialect.name, dialect.driver)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _build_plan(dialect)
    return plan


def write_plan_for_url(url: str) -> WritePlan:
    return write_plan(make_url(normalize_url(url)).get_dialect()())


def _build_plan(dialect: Dialect) -> WritePlan:
    requests, attempts = table_of(Request), table_of(Attempt)
    return WritePlan(
        dialect=dialect.name,
        requests=_table_plan(requests, (), dialect),
        attempts=_table_plan(attempts, (), dialect),
        rollups=tuple(_table_plan(table, keys, dialect) for table, keys in _ROLLUPS),
    )


def _table_plan(table: Table, keys: tuple[str, ...], dialect: Dialect) -> TablePlan:
    kinds = tuple(_kind(column, dialect) for column in table.columns)
    names = tuple(str(c.name) for c in table.columns)  # plain str, not quoted_name
    return TablePlan(str(table.name), names, kinds, keys)


def _kind(column: Column[Any], dialect: Dialect) -> str:
    """How ``column`` binds on ``dialect``; raises if the writer's conversion disagrees."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return "plain"
    kind = _kind_of_type(column)
    if kind is None:
        raise TypeError(f"{column}: a type the writer cannot bind ({column.type!r})")
    if kind == "json" and dialect.name == "postgresql":
        return kind  # COPY's text format takes the JSON text, not the driver's wrapper
    mine = conversion(kind, dialect.name)
    if mine(None) is not None:
        raise AssertionError(f"{column}: None must bind as NULL")
    for sample in _SAMPLES[kind]:
        want, got = _outcome(process, sample), _outcome(mine, sample)
        if type(got) is not type(want) or got != want:
            raise AssertionError(f"{column}: {sample!r} binds as {got!r}, the type gives {want!r}")
    return kind


def _kind_of_type(column: Column[Any]) -> str | None:
    kinds: tuple[tuple[type[Any], str], ...] = (
        (Money, "money"),
        (UTCDateTime, "utc"),
        (Boolean, "bool"),
        (JSON, "json"),
        (Float, "float"),
        (Numeric, "float"),
    )
    return next((kind for cls, kind in kinds if isinstance(column.type, cls)), None)


def _outcome(convert: Callable[[Any], Any], value: Any) -> Any:
    try:
        return convert(value)
    except Exception:  # both must refuse what the type refuses
        return _REFUSED


def connect_spec(
    url: str, *, busy_timeout_ms: int = 5000, cache_kib: int = ENGINE_CACHE_KIB
) -> ConnectSpec:
    """How a process without SQLAlchemy opens the database ``url`` names, as the engine does."""
    parsed = make_url(normalize_url(url))
    dialect = parsed.get_dialect()()
    args, options = dialect.create_connect_args(parsed)
    kwargs = dict(options)
    if dialect.name == "sqlite":
        wal = str(args[0]) if is_plain_file(parsed.database) else None
        kwargs |= {"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
        return ConnectSpec("sqlite", tuple(args), kwargs, busy_timeout_ms, cache_kib, wal)
    if dialect.driver == "psycopg":
        return ConnectSpec("psycopg", tuple(args), kwargs, busy_timeout_ms, cache_kib)
    raise ValueError(f"the writer supports SQLite and PostgreSQL (psycopg), not {dialect.name}")


def write_batch(engine: Engine, events: Sequence[UsageEvent]) -> int:
    """Write a batch in one transaction; returns how many requests were new.

    Raises StorageError when the database refuses, leaving nothing half-written.
    """
    if not events:
        return 0
    plan = write_plan(engine.dialect)
    try:
        raw = engine.raw_connection()  # the pool raises the driver's own errors (no wrapping)
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as exc:
        raise StorageError(f"batch of {len(events)} not written: {exc.__class__.__name__}") from exc
    try:
        return write_events(raw.driver_connection, plan, events)
    except StorageError:
        if getattr(raw.driver_connection, "closed", False):  # psycopg: the server went away
            raw.invalidate()
        raise
    finally:
        raw.close()
