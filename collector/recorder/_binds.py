"""DBAPI rows for the writer's plain SQL, generated once per table and dialect.

Core's per-row parameter handling cost more than the database itself, so the writer builds
rows itself. Each table gets one generated function that reads the values straight from the
event (no intermediate tuple) and converts each column by its kind (see ``_plan.KINDS``):
the value almost every row holds inline, anything else through the kind's full conversion.
No SQLAlchemy here (the writer process runs this); ``writer.write_plan`` checks every
conversion against SQLAlchemy's own type processors (:func:`conversion`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from collector.units import MONEY_SCALE, MONEY_UNIT

_CLIP = 1000  # characters kept of an error message (the column's length)

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
_FULL: dict[tuple[str, str], Callable[[Any], Any]] = {
    ("float", "*"): float,
    ("bool", "sqlite"): lambda v: int(_strict_bool(v)),
    ("bool", "postgresql"): _strict_bool,
    ("utc", "sqlite"): lambda v: _utc_text(_as_utc(v)),
    ("utc", "postgresql"): lambda v: _as_utc(v).replace(tzinfo=None),
    ("money", "sqlite"): lambda v: int(_money(v).scaleb(MONEY_SCALE)),
    ("money", "postgresql"): _money,
    ("json", "*"): _json_text,
}
# Inline code for the common value: "{v}" is the local, "{p}" the full conversion.
_INLINE = {
    ("float", "*"): "({v} if type({v}) is float else None if {v} is None else {p}({v}))",
    ("bool", "sqlite"): "(1 if {v} is True else 0 if {v} is False else None if {v} is None"
    " else {p}({v}))",
    ("bool", "postgresql"): "({v} if type({v}) is bool else None if {v} is None else {p}({v}))",
    ("utc", "sqlite"): "(_utc_text({v}) if type({v}) is _datetime and {v}.tzinfo is _UTC"
    " else None if {v} is None else {p}({v}))",
    ("utc", "postgresql"): "({v}.replace(tzinfo=None) if type({v}) is _datetime"
    " and {v}.tzinfo is _UTC else None if {v} is None else {p}({v}))",
    ("money", "sqlite"): "(int({v}.quantize(_UNIT).scaleb(_SCALE)) if type({v}) is _Decimal"
    " else None if {v} is None else {p}({v}))",
    ("money", "postgresql"): "({v}.quantize(_UNIT) if type({v}) is _Decimal else None"
    " if {v} is None else {p}({v}))",
    ("json", "*"): "(None if {v} is None else {p}({v}))",
}
_GLOBALS: dict[str, Any] = {
    "_utc_text": _utc_text,
    "_datetime": datetime,
    "_UTC": UTC,
    "_Decimal": Decimal,
    "_UNIT": MONEY_UNIT,
    "_SCALE": MONEY_SCALE,
}


def _lookup(table: dict[tuple[str, str], Any], kind: str, dialect: str) -> Any:
    found = table.get((kind, dialect), table.get((kind, "*")))
    if found is None:
        raise ValueError(f"no {kind!r} binding for {dialect}")
    return found


def row_builder(
    columns: Sequence[str],
    kinds: Sequence[str],
    dialect: str,
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
    for i, (name, kind) in enumerate(zip(columns, kinds, strict=True)):
        if name == "error_message":
            lines.append(f"    if v{i}:\n        v{i} = v{i}[:{_CLIP}]")
        out.append(_expression(kind, dialect, f"v{i}", scope))
    lines.append(f"    return ({', '.join(out)},)")
    return _compile(f"def row({params}):\n" + "\n".join(lines) + "\n", scope, width)


def conversion(kind: str, dialect: str) -> Callable[[Any], Any]:
    """One value's conversion for ``kind`` (the generated code's, for checks)."""
    scope: dict[str, Any] = dict(_GLOBALS)
    expression = _expression(kind, dialect, "v", scope)
    return _compile(f"def row(v):\n    return {expression}\n", scope, 1)


def _expression(kind: str, dialect: str, v: str, scope: dict[str, Any]) -> str:
    if kind == "plain":
        return v
    full = _lookup(_FULL, kind, dialect)
    if kind == "json":
        full = _cached_json(full)
    scope[f"p_{v}"] = full
    template: str = _lookup(_INLINE, kind, dialect)
    return template.format(v=v, p=f"p_{v}")


def _compile(source: str, scope: dict[str, Any], width: int) -> Callable[..., Any]:
    exec(compile(source, f"<row builder of {width} columns>", "exec"), scope)  # noqa: S102 - our own generated row code
    built: Callable[..., Any] = scope["row"]
    return built


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
