"""The writer's column conversions give exactly what each kind's conversion spec gives: the
full conversion of every non-None value, None as NULL, error messages cut to 1,000
characters — for the common values (converted inline) and every other value alike."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

import collector
from collector.recorder import AttemptEvent, UsageEvent, _batch, _binds, _values
from collector.recorder._plan import KINDS
from collector.recorder.writer import write_plan
from tests.factories import T0, make_event

DIALECTS = ("sqlite", "postgresql")
_PLUS_2 = timezone(timedelta(hours=2))
# values each kind takes: the common type (inline) and others (the full conversion)
_TAKEN: dict[str, tuple[Any, ...]] = {
    "plain": ("text", 3, 1.5, Decimal("0.1"), {"a": 1}, True),
    "float": (1.5, -0.0, 1e300, float("inf"), 2, Decimal("0.1"), True, "2.5"),
    "bool": (True, False, 0, 1),
    "utc": (
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 6, 1, 12, tzinfo=_PLUS_2),
        datetime(2026, 6, 1, 0, 30, tzinfo=timezone(timedelta(0))),  # UTC, not the UTC object
    ),
    "money": (
        Decimal("0.0001234567"),
        Decimal("12.34567890125"),
        Decimal("0.00000000015"),
        Decimal(0),
        Decimal(-3),
        7,
        "0.5",
    ),
    "json": ({}, {"team": "a"}, {"team": "a"}, {"n": 1, "ok": True}, [1, "two"], "text", 3),
}
# values each kind refuses (as the column type does)
_REFUSED: dict[str, tuple[Any, ...]] = {
    "float": ("abc", object()),
    "bool": (2, -1, 1.0, "yes"),
    "utc": (datetime(2026, 6, 1, 12), "2026-06-01", 0),
    "money": ("x", object()),
    "json": (object(), {"a": object()}),
}


def _spec(kind: str, dialect: str, value: Any) -> Any:
    """What a column of ``kind`` stores for ``value``, by the conversion table itself."""
    if kind == "plain" or value is None:
        return value
    full = _binds._FULL.get((kind, dialect)) or _binds._FULL[(kind, "*")]
    return full(value)


def _same(got: list[Any], want: list[Any]) -> None:
    assert got == want
    assert [type(v) for v in got] == [type(v) for v in want]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("kind", KINDS)
def test_columns_convert_as_the_spec(kind: str, dialect: str) -> None:
    values = [*_TAKEN[kind], None, *_TAKEN[kind]]
    want = [_spec(kind, dialect, v) for v in values]
    columns = _binds.Columns(["a", "b"], ["plain", kind], dialect)
    rows = list(columns.rows([(i, v) for i, v in enumerate(values)]))
    _same([row[1] for row in rows], want)
    _same([_binds.conversion(kind, dialect)(v) for v in values], want)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("kind", sorted(_REFUSED))
def test_columns_refuse_what_the_spec_refuses(kind: str, dialect: str) -> None:
    columns = _binds.Columns(["v"], [kind], dialect)
    for value in _REFUSED[kind]:
        with pytest.raises((TypeError, ValueError, ArithmeticError)) as spec_error:
            _spec(kind, dialect, value)
        with pytest.raises(spec_error.type):
            list(columns.rows([(_TAKEN[kind][0],), (value,)]))


def test_naive_datetimes_and_the_bool_two_are_refused() -> None:
    for dialect in DIALECTS:
        with pytest.raises(ValueError, match="naive"):
            _binds.conversion("utc", dialect)(datetime(2026, 1, 1))
        with pytest.raises(TypeError, match="boolean"):
            _binds.conversion("bool", dialect)(2)


_INT_COST: Any = 3  # an int where a Decimal belongs: converted as the spec converts it


def _fields(obj: object, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(obj, name) for name in names)


def _events() -> list[Any]:
    local = datetime(2026, 11, 30, 6, 0, 0, 250, tzinfo=timezone(timedelta(hours=-5)))
    return [
        make_event(error_message="x" * 2500, error_type="server_error", outcome="upstream_error"),
        make_event(started_at=local, cost_usd=7, ttft_ms=3, stream=1, batch=0, tags={"t": "a"}),
        make_event(error_message="", metadata={"a": [1, 2.5]}, service_tier="flex"),
        make_event(
            cost_usd=None,
            attempts=[
                AttemptEvent(1, local, 2, error_message="y" * 1001, cost_usd=Decimal("0.5")),
                AttemptEvent(2, datetime(2026, 1, 1, tzinfo=UTC), 3.5, cost_usd=_INT_COST),
            ],
        ),
    ]


def _spec_row(
    kinds: tuple[str, ...], names: list[str], values: tuple[Any, ...], dialect: str
) -> tuple[Any, ...]:
    clipped = [
        v[:1000] if n == "error_message" and v else v for n, v in zip(names, values, strict=True)
    ]
    return tuple(_spec(k, dialect, v) for k, v in zip(kinds, clipped, strict=True))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_request_and_attempt_rows_are_the_spec(dialect: str) -> None:
    url = "sqlite://" if dialect == "sqlite" else "postgresql+psycopg://"
    plan = write_plan(create_engine(url).dialect)  # no connection is made
    statements = _batch._statements(plan)
    events = _events()
    requests, attempts = statements.requests, statements.attempts
    kinds = plan.requests.kinds_of(tuple(requests.names))
    values = [(*_fields(e, _values.REQUEST_FIELDS), len(e.attempts)) for e in events]
    want = [_spec_row(kinds, requests.names, v, dialect) for v in values]
    assert list(requests.columns.rows(map(_batch._request_values, events))) == want
    assert want[0][requests.names.index("error_message")] == "x" * 1000
    pairs = [(e.id, a) for e in events for a in e.attempts]
    kinds = plan.attempts.kinds_of(tuple(attempts.names))
    values = [(rid, *_fields(a, _values.ATTEMPT_FIELDS)) for rid, a in pairs]
    want = [_spec_row(kinds, attempts.names, v, dialect) for v in values]
    got = list(attempts.columns.rows(_batch._attempt_values(rid, a) for rid, a in pairs))
    assert got == want
    assert [[type(v) for v in row] for row in got] == [[type(v) for v in row] for row in want]
    assert "y" * 1000 in got[-2]


def test_the_spelled_out_readers_follow_the_field_order() -> None:
    """Every field distinct, so a field missed, added or moved changes the tuple."""
    distinct: dict[str, Any] = {n: f"v{i}" for i, n in enumerate(_values.REQUEST_FIELDS)}
    event = UsageEvent(**distinct)
    event.attempts = [AttemptEvent(1, T0, 2.0), AttemptEvent(2, T0, 3.0)]
    assert _batch._request_values(event) == (*_fields(event, _values.REQUEST_FIELDS), 2)
    distinct = {n: f"a{i}" for i, n in enumerate(_values.ATTEMPT_FIELDS)}
    attempt = AttemptEvent(**distinct)
    want = ("rid", *_fields(attempt, _values.ATTEMPT_FIELDS))
    assert _batch._attempt_values("rid", attempt) == want


@pytest.mark.parametrize("reader", ["request_values", "attempt_values"])
def test_a_reader_behind_the_fields_stops_the_module_loading(
    monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    """A field added to the events but not to a reader: the check that runs as the readers'
    module loads (before any writer or codec can use them) refuses it."""
    read = getattr(_values, reader)
    monkeypatch.setattr(_values, reader, lambda e: (*read(e)[:-2], read(e)[-1]))
    with pytest.raises(AssertionError, match="readers"):
        _values._check()


def test_nothing_in_the_package_runs_source_text() -> None:
    """Row builders are plain functions: no ``exec``, ``eval`` or ``compile`` anywhere."""
    root = Path(collector.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            called = node.func if isinstance(node, ast.Call) else None
            if isinstance(called, ast.Name) and called.id in ("exec", "eval", "compile"):
                found.append(f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}")
    assert found == []
