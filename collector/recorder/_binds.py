"""DBAPI rows for the writer's plain SQL, generated once per table and dialect.

Core's per-row parameter handling cost more than the database itself, so the writer builds
rows itself with SQLAlchemy's own conversions (Money, UTCDateTime, JSON, Boolean, Float).
Each table gets one generated function that reads the values straight from the event (no
intermediate tuple) and converts the values almost every row holds inline; every inline
conversion is checked against the column's processor once, and falls back to it otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Dialect, Float

from collector.db.types import MONEY_SCALE, Money, UTCDateTime

_CLIP = 1000  # characters kept of an error message (the column's length)

# Inline conversions: "{v}" is the value's local name, "{p}" the column's processor. Each
# handles the common type itself and hands anything else (or None) to the processor.
_GENERIC = "(None if {v} is None else {p}({v}))"
_TEMPLATES = {
    "float": "({v} if type({v}) is float else None if {v} is None else {p}({v}))",
    "bool": "({t} if {v} is True else {f} if {v} is False else None if {v} is None else {p}({v}))",
    "sqlite_utc": "(_utc_text({v}) if type({v}) is _datetime"
    " and {v}.tzinfo is _UTC else None if {v} is None else {p}({v}))",
    "pg_utc": "({v}.replace(tzinfo=None) if type({v}) is _datetime and {v}.tzinfo is _UTC"
    " else None if {v} is None else {p}({v}))",
    "sqlite_money": "(int({v}.quantize(_UNIT).scaleb(_SCALE)) if type({v}) is _Decimal"
    " else None if {v} is None else {p}({v}))",
    "pg_money": "({v}.quantize(_UNIT) if type({v}) is _Decimal else None if {v} is None"
    " else {p}({v}))",
}
_SECONDS: dict[int, str] = {}  # whole UTC second → "YYYY-MM-DD HH:MM:SS."
_SECONDS_KEPT = 4096
_THREE_DIGITS = tuple(f"{i:03d}" for i in range(1000))


def _utc_text(moment: datetime) -> str:
    """An aware UTC datetime as SQLite DATETIME text, ``YYYY-MM-DD HH:MM:SS.ffffff``.

    ``isoformat`` costs ~13k instructions (it formats through sprintf); a batch's events
    share their seconds, so the text up to the second is remembered and only the
    microseconds are appended (from a table of 3-digit strings).
    """
    second = moment.toordinal() * 86400 + moment.hour * 3600 + moment.minute * 60 + moment.second
    head = _SECONDS.get(second)
    if head is None:
        if len(_SECONDS) >= _SECONDS_KEPT:
            _SECONDS.clear()
        head = _SECONDS[second] = moment.replace(microsecond=0, tzinfo=None).isoformat(" ") + "."
    micro = moment.microsecond
    return head + _THREE_DIGITS[micro // 1000] + _THREE_DIGITS[micro % 1000]


_GLOBALS: dict[str, Any] = {
    "_utc_text": _utc_text,
    "_datetime": datetime,
    "_UTC": UTC,
    "_Decimal": Decimal,
    "_UNIT": Decimal(10) ** -MONEY_SCALE,
    "_SCALE": MONEY_SCALE,
}
_SAMPLES: dict[str, tuple[Any, ...]] = {
    "float": (1.5, -0.0, 1e300, 2, Decimal("0.1"), True),
    "bool": (True, False, 0, 1),
    "sqlite_utc": (
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 6, 1, 12, tzinfo=timezone(timedelta(hours=2))),
    ),
    "sqlite_money": (
        Decimal("0.0001234567"),
        Decimal("12.34567890125"),
        Decimal(0),
        Decimal(-3),
        7,
    ),
}
_SAMPLES["pg_utc"] = _SAMPLES["sqlite_utc"]
_SAMPLES["pg_money"] = _SAMPLES["sqlite_money"]


def row_builder(
    columns: Sequence[Column[Any]],
    dialect: Dialect,
    sources: Sequence[str] | None = None,
    params: str = "values",
) -> Callable[..., tuple[Any, ...]]:
    """A function returning one DBAPI row, generated once per table (straight-line code).

    ``sources`` are Python expressions over ``params`` giving each column's value (e.g.
    ``"e.started_at"``); without them the function takes one sequence of the values.
    ``error_message`` columns are cut to 1,000 characters first.
    """
    width = len(columns)
    lines = []
    if sources is None:
        lines.append(f"    {''.join(f'v{i}, ' for i in range(width))}= values")
    else:
        lines += [f"    v{i} = {source}" for i, source in enumerate(sources)]
    scope: dict[str, Any] = dict(_GLOBALS)
    out = []
    for i, column in enumerate(columns):
        if column.name == "error_message":
            lines.append(f"    if v{i}:\n        v{i} = v{i}[:{_CLIP}]")
        out.append(_conversion(column, dialect, f"v{i}", scope))
    lines.append(f"    return ({', '.join(out)},)")
    return _compile(f"def row({params}):\n" + "\n".join(lines) + "\n", scope, width)


def _conversion(column: Column[Any], dialect: Dialect, v: str, scope: dict[str, Any]) -> str:
    """The expression converting local ``v`` for ``column`` (its constants go into scope)."""
    process = bind_processor(column, dialect)
    if process is None:
        return v
    names = {"v": v, "p": f"p_{v}", "t": f"t_{v}", "f": f"f_{v}"}
    scope[names["p"]] = process
    kind = _inline_kind(column, dialect)
    if kind is None:
        return _GENERIC.format(**names)
    if kind == "bool":
        scope[names["t"]], scope[names["f"]] = process(True), process(False)
    expression = _TEMPLATES[kind].format(**names)
    if _agrees(expression, v, scope, process, _SAMPLES[kind]):
        return expression
    return _GENERIC.format(**names)


def _inline_kind(column: Column[Any], dialect: Dialect) -> str | None:
    sqlite = dialect.name == "sqlite"
    if isinstance(column.type, Money):
        return "sqlite_money" if sqlite else "pg_money"
    if isinstance(column.type, UTCDateTime):
        impl = column.type.dialect_impl(dialect)
        storage = getattr(getattr(impl, "impl_instance", None), "_storage_format", None)
        if not sqlite:
            return "pg_utc"
        return "sqlite_utc" if storage == _SQLITE_DATETIME_FORMAT else None
    if isinstance(column.type, Boolean):
        return "bool"
    if isinstance(column.type, Float):
        return "float"
    return None


def _agrees(
    expression: str, v: str, scope: dict[str, Any], process: Any, samples: Sequence[Any]
) -> bool:
    """Whether ``expression`` gives what ``process`` gives (same type, same value) on samples."""
    fast = _compile(f"def row({v}):\n    return {expression}\n", dict(scope), 1)
    for sample in (None, *samples):
        want, got = (None if sample is None else process(sample)), fast(sample)
        if type(got) is not type(want) or got != want:
            return False
    return True


def _compile(source: str, scope: dict[str, Any], width: int) -> Callable[..., tuple[Any, ...]]:
    exec(compile(source, f"<row builder of {width} columns>", "exec"), scope)
    built: Callable[..., tuple[Any, ...]] = scope["row"]
    return built


def bind_processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """SQLAlchemy's bind processor for ``column``; JSON gets a cache (tags repeat)."""
    impl = column.type.dialect_impl(dialect)
    process = impl.bind_processor(dialect)
    if process is None:
        return None
    if isinstance(column.type, JSON):
        return _cached_json(_json_text if dialect.name == "postgresql" else process)
    return process


_SQLITE_DATETIME_FORMAT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)
_JSON_CACHE_SIZE = 4096


def _cached_json(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process``, remembered for small objects of strings (tags repeat: few distinct sets).

    Only objects whose keys and values are all strings are stored. A lookup key equal to a
    stored one then holds strings too (no number, bool or None equals a string), whose JSON
    text is the same, so a hit needs no type check; ``{"a": 1}`` never reaches a stored
    ``{"a": True}`` because neither is stored.
    """
    empty = process({})
    cache: dict[tuple[tuple[Any, Any], ...], Any] = {}

    def fast(value: Any) -> Any:
        if type(value) is not dict:
            return process(value)
        if not value:
            return empty
        key = tuple(value.items())
        try:
            found = cache.get(key)
        except TypeError:  # an unhashable value (a list, an object)
            return process(value)
        if found is not None:
            return found
        found = process(value)
        if len(key) <= 16 and all(type(k) is str and type(v) is str for k, v in key):
            if len(cache) >= _JSON_CACHE_SIZE:
                cache.clear()
            cache[key] = found
        return found

    return fast


def _json_text(value: Any) -> str:
    """JSON for PostgreSQL's COPY (text format takes the text as is; no wrapper to dump)."""
    return json.dumps(value)
