"""Full chunks write their all-NULL columns as literal NULLs: the stored rows are the same."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from collector.db import make_engine
from collector.recorder import AttemptEvent, UsageEvent, _bulk, write_batch
from tests.factories import make_event
from tests.support.templates import migrate


def _events(n: int) -> list[UsageEvent]:
    rng = random.Random(9)
    out = []
    for i in range(n):
        failed = i % 97 == 5  # a few chunks hold one row whose error columns are set
        event = make_event(
            error_type="timeout" if failed else None,
            error_message="upstream read timed out" if failed else None,
            outcome="timeout" if failed else "success",
            http_status=None if failed else 200,
            service_tier="flex" if i % 211 == 0 else None,
            project_id=None,
            cost_usd=None if i % 50 == 0 else Decimal("0.0000123456"),
            ttft_ms=rng.choice([None, 12.5]),
            tags={"team": "a"} if i % 3 else {},
        )
        if i % 7 == 0:
            event.attempts.append(AttemptEvent(2, event.started_at, 1.0, http_status=500))
        out.append(event)
    return out


def _dump(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM requests ORDER BY id")).all()
        attempts = conn.execute(text("SELECT * FROM attempts ORDER BY request_id, attempt_no"))
        return [tuple(r) for r in rows] + [tuple(a)[1:] for a in attempts]  # not attempt ids


def _write(path: Path, events: list[UsageEvent]) -> list[tuple[object, ...]]:
    url = f"sqlite:///{path}"
    migrate(url)
    engine = make_engine(url)
    assert write_batch(engine, events) == len(events)
    try:
        return _dump(engine)
    finally:
        engine.dispose()


def test_literal_nulls_store_what_bound_nulls_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _events(1000)
    used: list[tuple[int, ...]] = []
    original = _bulk.BulkInsert._values_sql

    def spy(self: _bulk.BulkInsert, n: int, tail: str, nulls: tuple[int, ...] = ()) -> str:
        used.append(nulls)
        return original(self, n, tail, nulls)

    monkeypatch.setattr(_bulk.BulkInsert, "_values_sql", spy)
    fast = _write(tmp_path / "fast.db", events)
    assert any(used)  # NULL literals were written
    insert = _bulk.BulkInsert.insert

    def bind_everything(self: _bulk.BulkInsert, *args: Any, **kwargs: Any) -> None:
        self.literal_nulls = False
        insert(self, *args, **kwargs)

    monkeypatch.setattr(_bulk.BulkInsert, "insert", bind_everything)
    used.clear()
    plain = _write(tmp_path / "plain.db", events)
    assert not any(used)  # every value bound
    assert fast == plain
    assert len(fast) > 1000
