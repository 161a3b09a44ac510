"""One small, hand-countable dataset written through the recorder (write_batch).

Project ``alpha`` (SLO 0.995, key ``sk-a``, user ``u1``, model ``gpt-4o-mini``):
- 2026-10-31 23:30: 1 success, $0.00005
- 2026-11-01 12:xx: 6 successes at $0.000027 (100..600 ms), 1 upstream_error (502, 3 failed
  attempts), 1 timeout, 1 client_error (400), 1 blocked, 1 success after a retry ($0.00003,
  its failed first attempt cost $0.000001)
- 2026-11-02 00:10: 1 success, $0.00001
Project ``beta`` (SLO 0.99, key ``sk-b``, tags team=ml; the first 50 also env=prod):
- 2026-11-01 13:xx: 198 streamed successes of gpt-4o at $0.0012345678 (120 ms, TTFT 40 ms),
  1 upstream_error (gpt-4o), 1 unpriced success of ``mystery-model``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, update

from collector.db import Project
from collector.db.engine import session_scope
from collector.recorder import AttemptEvent, UsageEvent, write_batch
from tests.factories import make_event, make_key, make_project

NOV1_12 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
NOV1_13 = NOV1_12 + timedelta(hours=1)
OCT31 = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
NOV2 = datetime(2026, 11, 2, 0, 10, tzinfo=UTC)
A_COST = Decimal("0.0000270000")
B_COST = Decimal("0.0012345678")


@dataclass(frozen=True)
class Seeded:
    alpha: int
    beta: int
    key_a: int
    key_b: int
    events: tuple[UsageEvent, ...]
    retried_id: str


def _failed(no: int, at: datetime, status: int = 502, cost: Decimal | None = None) -> AttemptEvent:
    return AttemptEvent(
        attempt_no=no, started_at=at, duration_ms=50.0, model="gpt-4o-mini",
        http_status=status, error_type="server_error", cost_usd=cost,
    )  # fmt: skip


def _alpha(pid: int, kid: int) -> list[UsageEvent]:
    common = {"project_id": pid, "api_key_id": kid, "end_user": "u1"}
    events = [
        make_event(**common, started_at=OCT31, cost_usd=Decimal("0.00005")),
        make_event(**common, started_at=NOV2, cost_usd=Decimal("0.00001")),
    ]
    for i, ms in enumerate((100.0, 200.0, 300.0, 400.0, 500.0, 600.0)):
        events.append(
            make_event(**common, started_at=NOV1_12 + timedelta(minutes=i), duration_ms=ms)
        )
    at = NOV1_12 + timedelta(minutes=10)
    fail = {"cost_usd": Decimal(0), "completion_tokens": 0}
    events += [
        make_event(**common, **fail, started_at=at, outcome="upstream_error", http_status=502,
                   error_type="server_error", attempts=[_failed(n, at) for n in (1, 2, 3)]),
        make_event(**common, **fail, started_at=at, outcome="timeout", http_status=None,
                   error_type="timeout"),
        make_event(**common, **fail, started_at=at, outcome="client_error", http_status=400,
                   error_type="invalid_request_error"),
        make_event(**common, **fail, started_at=at, outcome="blocked", http_status=429,
                   error_type="budget_exceeded", attempts=[]),
    ]  # fmt: skip
    ok = AttemptEvent(attempt_no=2, started_at=at, duration_ms=80.0, model="gpt-4o-mini",
                      http_status=200, cost_usd=Decimal("0.00003"))  # fmt: skip
    first = _failed(1, at, cost=Decimal("0.000001"))
    events.append(
        make_event(**common, started_at=at, cost_usd=Decimal("0.00003"), attempts=[first, ok])
    )
    return events


def _beta(pid: int, kid: int) -> list[UsageEvent]:
    events = []
    for i in range(200):
        kwargs: dict[str, Any] = dict(
            project_id=pid,
            api_key_id=kid,
            end_user="u2",
            tags={"team": "ml", "env": "prod"} if i < 50 else {"team": "ml"},
            started_at=NOV1_13 + timedelta(seconds=i),
            model_requested="gpt-4o",
            model_served="gpt-4o",
            stream=True,
            ttft_ms=40.0,
            cost_usd=B_COST,
        )
        if i == 198:
            error = dict(outcome="upstream_error", http_status=500, error_type="server_error")
            kwargs |= error | dict(cost_usd=Decimal(0), stream=False, ttft_ms=None)
        if i == 199:
            kwargs |= dict(model_served="mystery-model", model_requested="mystery-model")
            kwargs |= dict(cost_usd=None, cost_source="unpriced")
        events.append(make_event(**kwargs))
    return events


@pytest.fixture
def seeded(engine: Engine) -> Seeded:
    alpha, beta = make_project(engine, "alpha"), make_project(engine, "beta")
    with session_scope(engine) as session:
        session.execute(
            update(Project).where(Project.id == beta).values(slo_target=Decimal("0.99"))
        )
    key_a, key_b = make_key(engine, alpha, "sk-a"), make_key(engine, beta, "sk-b")
    events = _alpha(alpha, key_a) + _beta(beta, key_b)
    assert write_batch(engine, events) == len(events)
    return Seeded(alpha, beta, key_a, key_b, tuple(events), events[-1 - 200].id)
