"""DBAPI values for the writer's plain SQL: SQLAlchemy's bind processors, resolved once.

Core's per-row parameter handling cost more than the database itself, so the writer builds
rows itself, with the same conversions (Money, UTCDateTime, JSON, Boolean) and shortcuts for
the values almost every row holds; each shortcut is checked against the processor once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Dialect, TypeDecorator

from collector.db.types import UTCDateTime


def row_builder(
    width: int, processors: dict[int, Callable[[Any], Any]], clip: set[int]
) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A function turning a row of Python values into DBAPI values, generated once per table.

    Straight-line code (unpack, convert the columns that need it, repack) instead of a loop
    over the columns per row: building rows was the recorder's largest Python cost. Each
    converted value is ``None`` kept as is, else its processor's result; ``clip`` columns are
    cut to 1,000 characters first.
    """
    names = [f"a{i}" for i in range(width)]
    lines = [f"    {', '.join(names)}, = values"]
    for i in sorted(clip):
        lines.append(f"    if a{i}:\n        a{i} = a{i}[:1000]")
    out = [
        f"(None if a{i} is None else p{i}(a{i}))" if i in processors else f"a{i}"
        for i in range(width)
    ]
    lines.append(f"    return ({', '.join(out)},)")
    source = "def row(values):\n" + "\n".join(lines) + "\n"
    scope: dict[str, Any] = {f"p{i}": p for i, p in processors.items()}
    exec(compile(source, f"<row builder of {width} columns>", "exec"), scope)
    built: Callable[[Sequence[Any]], tuple[Any, ...]] = scope["row"]
    return built


def bind_processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """SQLAlchemy's bind processor, with a shortcut for the values almost every row holds.

    Timestamps (UTC) and empty JSON objects took two thirds of the time spent building a
    row; each shortcut returns exactly what the processor returns (checked here, once).
    """
    impl = column.type.dialect_impl(dialect)
    process = impl.bind_processor(dialect)
    if process is None:
        return None
    if isinstance(column.type, JSON):
        return _cached_json(_json_text if dialect.name == "postgresql" else process)
    if isinstance(column.type, UTCDateTime) and isinstance(impl, TypeDecorator):
        storage = getattr(impl.impl_instance, "_storage_format", None)
        if dialect.name == "sqlite" and storage == _SQLITE_DATETIME_FORMAT:
            return _checked(_sqlite_utc(process), process, _DATETIME_SAMPLES)
    if isinstance(column.type, Boolean):
        return _checked(_known_bools(process), process, (True, False))
    return process


def _known_bools(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """True/False as the processor stores them (1/0 on SQLite), without its type checks."""
    stored = {True: process(True), False: process(False)}

    def fast(value: Any) -> Any:
        return stored[value] if type(value) is bool else process(value)

    return fast


_SQLITE_DATETIME_FORMAT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)
_DATETIME_SAMPLES = (
    datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 6, 1, 12, tzinfo=timezone(timedelta(hours=2))),
)


_JSON_CACHE_SIZE = 4096


def _cached_json(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process``, remembered for small objects of strings (tags repeat: few distinct sets).

    Only str → str objects are cached: their items as a tuple identify the JSON text exactly
    (``{"a": 1}`` and ``{"a": True}`` hash alike, so other values are never cached).
    """
    empty = process({})
    cache: dict[tuple[tuple[str, str], ...], Any] = {}

    def fast(value: Any) -> Any:
        if type(value) is not dict:
            return process(value)
        if not value:
            return empty
        key = tuple(value.items())
        if len(key) > 16 or not all(type(k) is str and type(v) is str for k, v in key):
            return process(value)  # (other values may not even hash)
        found = cache.get(key)
        if found is None:
            if len(cache) >= _JSON_CACHE_SIZE:
                cache.clear()
            found = cache[key] = process(value)
        return found

    return fast


def _json_text(value: Any) -> str:
    """JSON for PostgreSQL's COPY (text format takes the text as is; no wrapper to dump)."""
    return json.dumps(value)


def _sqlite_utc(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def fast(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is UTC:
            return value.isoformat(" ", "microseconds")[:-6]  # without "+00:00"
        return process(value)

    return fast


def _checked(
    fast: Callable[[Any], Any], process: Callable[[Any], Any], samples: Sequence[Any]
) -> Callable[[Any], Any]:
    """``fast`` if it agrees with ``process`` on the samples, else ``process`` itself."""
    return fast if all(fast(v) == process(v) for v in samples) else process
