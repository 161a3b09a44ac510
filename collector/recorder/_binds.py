"""DBAPI values for the writer's plain SQL, converted a column at a time, per table and dialect.

Core's per-row parameter handling cost more than the database itself, so the writer converts
the values itself. A chunk of rows is turned into columns (``zip``, in C) and each column that
is not ``plain`` (see ``_plan.KINDS``) goes through its kind's conversion as one list
comprehension: the value almost every row holds is tested and converted inline, anything else
goes through the kind's full conversion (``_FULL``). No per-value call for the common value,
and no per-row Python at all for ``plain`` columns, which are most of them.
No SQLAlchemy here (the writer process runs this); ``writer.write_plan`` checks every
conversion against SQLAlchemy's own type processors (:func:`conversion`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from itertools import chain, islice
from typing import Any

from collector.units import MONEY_SCALE, MONEY_UNIT

Row = tuple[Any, ...]
Column = Sequence[Any]
Convert = Callable[[Any], Any]  # one non-None value
ColumnConvert = Callable[[Column], Column]  # a whole column, None kept as None

_CLIP = 1000  # characters kept of an error message (the column's length)
_CHUNK = 128  # rows converted together by :meth:`Columns.rows`

_SECONDS: dict[int, str] = {}  # whole UTC second → "YYYY-MM-DD HH:MM:SS."
_SECONDS_KEPT = 4096
_THREE_DIGITS = tuple(f"{i:03d}" for i in range(1000))


def _utc_text(moment: datetime) -> str:
    """An aware UTC datetime as SQLite DATETIME text, ``YYYY-MM-DD HH:MM:SS.ffffff``.

    ``isoformat`` formats through sprintf; a batch's events share their seconds, so the text
    up to the second is remembered and only the microseconds are appended (from a table).
    """
    second = moment.toordinal() * 86400 + moment.hour * 3600 + moment.minute * 60 + moment.second
    head = _SECONDS.get(second)
    if head is None:
        if len(_SECONDS) >= _SECONDS_KEPT:
            _SECONDS.clear()
        head = _SECONDS[second] = moment.replace(microsecond=0, tzinfo=None).isoformat(" ") + "."
    micro = moment.microsecond
    return head + _THREE_DIGITS[micro // 1000] + _THREE_DIGITS[micro % 1000]


def _as_utc(value: Any) -> datetime:
    """What the UTC column type stores: an aware datetime in UTC; naive ones are refused."""
    if not isinstance(value, datetime):
        raise TypeError(f"not a datetime: {value!r}")
    if value.tzinfo is None:
        raise ValueError("naive datetime given; spendscope stores UTC-aware datetimes only")
    return value.astimezone(UTC)


def _strict_bool(value: Any) -> bool:
    """Booleans as SQLAlchemy's Boolean takes them: True, False, 0 or 1."""
    if type(value) in (bool, int) and value in (0, 1):
        return bool(value)
    raise TypeError(f"Not a boolean value: {value!r}")


def _money(value: Any) -> Decimal:
    return Decimal(value).quantize(MONEY_UNIT)


def _json_text(value: Any) -> str:
    return json.dumps(value)


# Full conversions of a non-None value, by (kind, dialect); "*" is any dialect.
_FULL: dict[tuple[str, str], Convert] = {
    ("float", "*"): float,
    ("bool", "sqlite"): lambda v: int(_strict_bool(v)),
    ("bool", "postgresql"): _strict_bool,
    ("utc", "sqlite"): lambda v: _utc_text(_as_utc(v)),
    ("utc", "postgresql"): lambda v: _as_utc(v).replace(tzinfo=None),
    ("money", "sqlite"): lambda v: int(_money(v).scaleb(MONEY_SCALE)),
    ("money", "postgresql"): _money,
    ("json", "*"): _json_text,
}


# Each kind's column conversion, given the full one: the common value's test and conversion
# inline, None kept, anything else through ``full`` (which refuses what the type refuses).
def _floats(full: Convert) -> ColumnConvert:
    def convert(column: Column) -> Column:
        return [v if type(v) is float else None if v is None else full(v) for v in column]

    return convert


def _bools_as_ints(full: Convert) -> ColumnConvert:
    def convert(column: Column) -> Column:
        return [
            1 if v is True else 0 if v is False else None if v is None else full(v) for v in column
        ]

    return convert


def _bools(full: Convert) -> ColumnConvert:
    def convert(column: Column) -> Column:
        return [v if type(v) is bool else None if v is None else full(v) for v in column]

    return convert


def _utc_texts(full: Convert) -> ColumnConvert:
    def convert(column: Column) -> Column:
        return [
            _utc_text(v)
            if type(v) is datetime and v.tzinfo is UTC
            else None
            if v is None
            else full(v)
            for v in column
        ]

    return convert


def _naive_utcs(full: Convert) -> ColumnConvert:
    def convert(column: Column) -> Column:
        return [
            v.replace(tzinfo=None)
            if type(v) is datetime and v.tzinfo is UTC
            else None
            if v is None
            else full(v)
            for v in column
        ]

    return convert


def _money_counts(full: Convert) -> ColumnConvert:
    unit, scale = MONEY_UNIT, MONEY_SCALE

    def convert(column: Column) -> Column:
        return [
            int(v.quantize(unit).scaleb(scale))
            if type(v) is Decimal
            else None
            if v is None
            else full(v)
            for v in column
        ]

    return convert


def _moneys(full: Convert) -> ColumnConvert:
    unit = MONEY_UNIT

    def convert(column: Column) -> Column:
        return [
            v.quantize(unit) if type(v) is Decimal else None if v is None else full(v)
            for v in column
        ]

    return convert


def _jsons(full: Convert) -> ColumnConvert:
    cached = _cached_json(full)

    def convert(column: Column) -> Column:
        return [None if v is None else cached(v) for v in column]

    return convert


def _clipped(column: Column) -> Column:
    """Error messages cut to the column's length (before the column's kind converts them)."""
    return [v[:_CLIP] if v else v for v in column]


_COLUMNS: dict[tuple[str, str], Callable[[Convert], ColumnConvert]] = {
    ("float", "*"): _floats,
    ("bool", "sqlite"): _bools_as_ints,
    ("bool", "postgresql"): _bools,
    ("utc", "sqlite"): _utc_texts,
    ("utc", "postgresql"): _naive_utcs,
    ("money", "sqlite"): _money_counts,
    ("money", "postgresql"): _moneys,
    ("json", "*"): _jsons,
}


def _lookup(table: dict[tuple[str, str], Any], kind: str, dialect: str) -> Any:
    found = table.get((kind, dialect), table.get((kind, "*")))
    if found is None:
        raise ValueError(f"no {kind!r} binding for {dialect}")
    return found


def column_conversion(kind: str, dialect: str) -> ColumnConvert | None:
    """How a column of ``kind`` converts on ``dialect`` (None: ``plain``, as it is)."""
    if kind == "plain":
        return None
    make: Callable[[Convert], ColumnConvert] = _lookup(_COLUMNS, kind, dialect)
    return make(_lookup(_FULL, kind, dialect))


def conversion(kind: str, dialect: str) -> Convert:
    """One value through the column conversion of ``kind`` (what the writer runs, for checks)."""
    convert = column_conversion(kind, dialect)
    if convert is None:
        return lambda value: value
    return lambda value: convert((value,))[0]


class Columns:
    """A table's rows of unconverted values (in ``names`` order) as converted columns, a chunk
    at a time: ``error_message`` columns clipped, then every column converted by its kind."""

    def __init__(
        self,
        names: Sequence[str],
        kinds: Sequence[str],
        dialect: str,
    ) -> None:
        steps: list[tuple[int, ColumnConvert]] = []
        for i, (name, kind) in enumerate(zip(names, kinds, strict=True)):
            if name == "error_message":
                steps.append((i, _clipped))
            convert = column_conversion(kind, dialect)
            if convert is not None:
                steps.append((i, convert))
        self.steps = tuple(steps)
        self.width = len(names)

    def __call__(self, chunk: list[Row]) -> list[Column]:
        """The chunk's columns, converted (``chunk`` must not be empty)."""
        columns: list[Column] = list(zip(*chunk, strict=True))
        if len(columns) != self.width:  # a row reader behind its table would shift columns
            raise AssertionError(f"rows of {len(columns)} values for {self.width} columns")
        for i, convert in self.steps:
            columns[i] = convert(columns[i])
        return columns

    def rows(self, rows: Iterable[Row]) -> Iterator[Row]:
        """Converted rows, built a chunk at a time (so no batch's worth of tuples piles up);
        handed out by ``chain`` and ``zip``, with no Python step per row."""
        values = iter(rows)
        chunks = iter(lambda: list(islice(values, _CHUNK)), [])
        return chain.from_iterable(zip(*columns, strict=True) for columns in map(self, chunks))


_JSON_CACHE_SIZE = 4096


def _cached_json(process: Convert) -> Convert:
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
