"""A run of Batch API lines priced together (``line_events``, one cost per distinct question)
gives exactly the events, rows and rollups that pricing each line alone gives."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, inspect, text

from collector.batches import JobRef
from collector.db import make_engine
from collector.gateway._batch_lines import LineContext, line_event, line_events
from collector.recorder import UsageEvent, set_usage_columns, usage_columns, write_batch
from collector.recorder.writer import _ROLLUPS
from collector.usage import Usage
from tests.support.templates import migrate

CREATED = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
JOB = JobRef(
    "batch_r", "default", "/v1/chat/completions", CREATED, "completed", None, None, "ana",
    {"team": "ml"},
)  # fmt: skip
CTX = LineContext(JOB, datetime(2026, 11, 1, 10, 0, tzinfo=UTC))
MODELS = ("gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "no-such-model", None)
STAMPS = (1_793_523_600, 1_793_523_601, 1_793_527_200, None)
CUSTOM_IDS = (None, "a", "b", "c", *map(str, range(60)))


def raw_line(rng: random.Random) -> bytes:
    """A line as an output or error file holds it: few distinct values, so costs repeat."""
    if rng.random() < 0.03:
        return b"{not json"
    status = rng.choice((200, 200, 200, 400, 500))
    usage = {
        "prompt_tokens": rng.choice((0, 12, 2000)),
        "completion_tokens": rng.choice((0, 1, 300)),
        "prompt_tokens_details": {"cached_tokens": rng.choice((0, 1024))},
        "completion_tokens_details": {"reasoning_tokens": rng.choice((0, 64))},
    }
    body: dict[str, Any] = {"object": "chat.completion", "usage": usage}
    if (model := rng.choice(MODELS)) is not None:
        body["model"] = model
    if (stamp := rng.choice(STAMPS)) is not None:
        body["created"] = stamp
    if status >= 400:
        body = {"error": {"message": "bad", "code": "invalid_request"}}
    response = {"status_code": status, "body": body}
    row = {"custom_id": rng.choice(CUSTOM_IDS), "response": response, "error": None}
    return orjson.dumps(row)


def lines(seed: int, n: int) -> list[bytes]:
    rng = random.Random(seed)
    return [raw_line(rng) for _ in range(n)]


def alone(raws: list[bytes], first: int) -> list[UsageEvent]:
    out = []
    for place, raw in enumerate(raws, first):
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            line = None
        out.append(line_event(line, f"output:{place}", CTX, CTX.call))
    return out


def together(raws: list[bytes], first: int) -> list[UsageEvent]:
    return line_events(raws, "output", first, CTX, CTX.call)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 80), st.integers(0, 5000))
def test_a_run_gives_the_events_each_line_gives_alone(seed: int, n: int, first: int) -> None:
    raws = lines(seed, n)
    assert together(raws, first) == alone(raws, first)  # every field, attempts and cost too


def _tables(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    names = ["requests", "attempts", *(str(table.name) for table, _ in _ROLLUPS)]
    assert set(names) <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        return {
            name: sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{name}"'))), key=repr)
            for name in names
        }


def test_a_run_writes_the_rows_and_rollups_each_line_writes(tmp_path: Path) -> None:
    raws = lines(7, 400)
    written = []
    for name, events in (("alone", alone(raws, 0)), ("run", together(raws, 0))):
        url = f"sqlite:///{tmp_path / name}.db"
        migrate(url)
        engine = make_engine(url)
        try:
            write_batch(engine, events)
            written.append(_tables(engine))
        finally:
            engine.dispose()
    assert len(written[0]["requests"]) > 50  # enough rows for the comparison to mean something
    assert all(written[0].values())  # every rollup table has rows
    assert written[0] == written[1]


def test_a_lines_usage_lands_on_the_columns_usage_columns_names() -> None:
    not_counts = {"audio_seconds", "image_size", "image_quality"}
    names = [name for name in Usage.__dataclass_fields__ if name not in not_counts]
    counts: dict[str, Any] = {name: i + 1 for i, name in enumerate(names)}
    usage = Usage(**counts)
    event = UsageEvent("x", CREATED, 0.0, "/v1/x", "success", "computed")
    set_usage_columns(event, usage)
    assert {name: getattr(event, name) for name in usage_columns(usage)} == usage_columns(usage)
