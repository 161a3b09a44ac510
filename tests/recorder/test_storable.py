"""Every value an event can carry is made storable when it is taken in, and the repair shows.

Each poison value here was refused by PostgreSQL (or broke the encoder) before events were
made storable; now each row is stored on both databases with its money, and the repair is
listed in the row's metadata.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from collector.db import Request
from collector.recorder import AttemptEvent, UsageEvent, write_batch
from collector.recorder.codec import decode, encode
from collector.recorder.storable import (
    CHANGED_KEY,
    INT_MAX,
    MAX_DEPTH,
    ORIGINAL_KEY,
    column_limits,
    fits,
    make_storable,
)
from tests.factories import T0, make_event


def _deep(levels: int) -> dict[str, Any]:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return {"a": value}


def _poisoned() -> list[UsageEvent]:
    """One event per poison class a client or an upstream can send."""
    return [
        make_event(end_user="al\x00ice"),
        make_event(model_requested="gpt-4o\x00mini"),
        make_event(model_requested="m" * 300, model_served="s" * 250),
        make_event(end_user="bad \ud800 surrogate"),
        make_event(metadata=_deep(1000)),
        make_event(metadata={"n": float("nan"), "i": float("inf"), "big": 2**70}),
        make_event(metadata={"k\x00": "v\x00", "deep": _deep(40)}),
        make_event(tags={"team": "x\x00" + "y" * 500}),
        make_event(prompt_tokens=2**40, completion_tokens=-5),
        make_event(error_type="e" * 300, error_message="boom\x00" * 500, http_status=70_000),
        make_event(endpoint="/v1/" + "x" * 500, upstream_request_id="r" * 300),
        make_event(attempts=[AttemptEvent(1, T0, 1.0, model="a\x00" * 300, error_type="t" * 200)]),
        make_event(cost_usd=Decimal("NaN")),
        make_event(metadata={"n": "x" * 20_000}),
        make_event(metadata={"n": float("nan")}),
    ]


def test_each_poison_value_is_repaired_and_noted() -> None:
    for event in _poisoned():
        money = event.cost_usd
        notes = make_storable(event)
        assert notes, event
        assert event.metadata[CHANGED_KEY] == notes
        if money is not None and money.is_finite():
            assert event.cost_usd == money  # the money is never touched
        assert decode(encode(event)) == event  # and it now encodes


def test_clean_events_are_left_alone() -> None:
    event = make_event(metadata={"trace": "abc", "n": [1, 2.5, None, True]}, tags={"a": "b"})
    before = repr(event)
    assert make_storable(event) == []
    assert repr(event) == before


def test_what_was_changed_is_said() -> None:
    event = make_event(model_requested="m" * 300, end_user="al\x00ice", metadata=_deep(1000))
    notes = make_storable(event)
    limit = dict(column_limits().request)["model_requested"]
    assert event.model_requested == "m" * limit
    assert event.end_user == "al\ufffdice"
    assert any("model_requested: cut to 200 of its 300 characters" in n for n in notes)
    assert any(f"nested deeper than {MAX_DEPTH}" in n for n in notes)
    assert event.metadata[ORIGINAL_KEY].startswith("{'a': [[[")  # an excerpt of what came


def test_numbers_are_clamped_into_their_columns() -> None:
    event = make_event(prompt_tokens=2**40, completion_tokens=-5, http_status=70_000)
    make_storable(event)
    assert (event.prompt_tokens, event.completion_tokens, event.http_status) == (INT_MAX, 0, None)
    unpriceable = make_event(cost_usd=Decimal("1e12"))
    make_storable(unpriceable)
    assert (unpriceable.cost_usd, unpriceable.cost_source) == (None, "unpriced")


def _stored(engine: Engine) -> dict[str, Request]:
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        return {r.id: r for r in session.scalars(select(Request))}


def test_repaired_events_are_stored_on_both_databases(engine: Engine) -> None:
    events = _poisoned()
    for event in events:
        make_storable(event)
    assert write_batch(engine, events) == len(events)
    rows = _stored(engine)
    for event in events:
        row = rows[event.id]
        assert row.cost_usd == (
            None if event.cost_usd is None else event.cost_usd.quantize(Decimal("1e-10"))
        )
        assert row.metadata_[CHANGED_KEY] == event.metadata[CHANGED_KEY]


def test_unrepaired_poison_is_refused_by_postgresql(engine: Engine) -> None:
    """The test above can fail: without the repair, PostgreSQL refuses these rows."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores NULs and over-long strings as they are")
    from collector.recorder import PoisonBatch

    for event in (make_event(end_user="al\x00ice"), make_event(model_requested="m" * 300)):
        with pytest.raises(PoisonBatch):
            write_batch(engine, [event])


_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=400)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=40,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(user=_TEXT, model=_TEXT, error=_TEXT, metadata=st.dictionaries(_TEXT, _JSON, max_size=4))
def test_any_text_a_client_sends_is_stored(
    engine: Engine, user: str, model: str, error: str, metadata: dict[str, Any]
) -> None:
    event = make_event(end_user=user, model_requested=model, error_message=error, metadata=metadata)
    make_storable(event)
    orjson.dumps(event.metadata)  # encodable
    assert write_batch(engine, [event]) == 1


def _fits_as_is(event: UsageEvent) -> bool:
    try:
        line = encode(event)
    except (TypeError, orjson.JSONEncodeError):
        return False
    return fits()(event, line)


def test_the_quick_test_sends_every_poison_value_to_the_repair() -> None:
    for event in _poisoned():
        assert not _fits_as_is(event), event
    assert _fits_as_is(make_event(metadata={"trace": "abc"}, tags={"team": "a"}))


@settings(max_examples=200, deadline=None)
@given(user=_TEXT, model=_TEXT, tokens=st.integers(), metadata=st.dictionaries(_TEXT, _JSON))
def test_what_the_quick_test_passes_needs_no_repair(
    user: str, model: str, tokens: int, metadata: dict[str, Any]
) -> None:
    event = make_event(
        end_user=user, model_requested=model, prompt_tokens=tokens, metadata=metadata
    )
    if _fits_as_is(event):
        assert make_storable(event) == []


@pytest.mark.parametrize(
    ("changes", "fit"),
    [
        ({}, True),
        ({"model_requested": "m" * 200}, True),
        ({"model_requested": "m" * 201}, False),
        ({"end_user": 123}, False),
        ({"prompt_tokens": INT_MAX}, True),
        ({"prompt_tokens": INT_MAX + 1}, False),
        ({"completion_tokens": -1}, False),
        ({"completion_tokens": True}, False),
        ({"cached_tokens": 1.0}, False),
        ({"attempts": [AttemptEvent(1, T0, 1.0, error_type="t" * 100)]}, True),
        ({"attempts": [AttemptEvent(1, T0, 1.0, error_type="t" * 101)]}, False),
        ({"attempts": [AttemptEvent(1, T0, 1.0, prompt_tokens=True)]}, False),
        ({"attempts": [AttemptEvent(1, T0, 1.0, upstream_key_last4="abcde")]}, False),
    ],
)
def test_the_quick_test_at_the_edges(changes: dict[str, Any], fit: bool) -> None:
    """Lengths up to the column's pass, one more does not; a value of another type (a bool
    or float count, a number where text goes) goes to the repair."""
    event = make_event(**changes)
    assert fits()(event, encode(event)) is fit
