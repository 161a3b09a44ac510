"""A Batch API job's booked estimate is replaced by what its lines cost once the poller has
recorded them — exactly once, however often the job is read (re-polls, restarts) — and a job
that failed entirely books nothing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import openai
import pytest
from sqlalchemy import Engine, func, select, update

from collector.budgets import budget_statuses
from collector.db import BatchJob, session_scope
from collector.db.models import BudgetBooking, BudgetCounter
from collector.mock_upstream import MockConfig, run_in_thread
from tests.gateway._batches import FAST, chat_lines, eventually, line_rows, recorded
from tests.gateway._support import UPSTREAM_KEY, Gateway, GatewayFactory
from tests.gateway.test_admission_gateway import UTC_TZ, hard_budget, key, settled

LINES = 12
BUDGET = Decimal(50)


@pytest.fixture(scope="module")
def batch_mock() -> Iterator[str]:
    with run_in_thread(MockConfig(require_key=UPSTREAM_KEY, batch_step_s=0.1)) as url:
        yield url


def counter(engine: Engine) -> tuple[Decimal, Decimal]:
    """The budget's booked spend and holds, summed over its counter rows."""
    with session_scope(engine) as session:
        spent, reserved = session.execute(
            select(func.sum(BudgetCounter.spent_usd), func.sum(BudgetCounter.reserved_usd))
        ).one()
    return Decimal(spent or 0), Decimal(reserved or 0)


def bookings(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(BudgetBooking)) or 0)


def _run(gw: Gateway, client: openai.OpenAI, data: bytes, **metadata: str) -> str:
    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
    job = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h",
        metadata=metadata or None,
    )  # fmt: skip
    eventually(lambda: recorded(gw, job.id))
    settled(gw)
    return job.id


def _lines_cost(gw: Gateway, batch_id: str) -> Decimal:
    rows = line_rows(gw, batch_id)
    assert rows and all(r.cost_usd is not None for r in rows)
    return sum((r.cost_usd for r in rows if r.cost_usd is not None), Decimal(0))


def test_a_recorded_job_books_its_lines_exact_cost_once(
    make_gateway: GatewayFactory, batch_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    hard_budget(gw.engine, BUDGET)
    client = openai.OpenAI(base_url=gw.base_url, api_key=key(gw.engine))
    batch_id = _run(gw, client, chat_lines(LINES), mock_fail_every="4")
    exact = _lines_cost(gw, batch_id)
    assert len(line_rows(gw, batch_id)) == LINES and exact > 0
    assert counter(gw.engine) == (exact, Decimal(0))  # the estimate is gone
    [status] = budget_statuses(gw.engine, datetime.now(UTC), UTC_TZ)
    assert status.spent_usd == exact
    assert bookings(gw.engine) == 0
    # read again (a restart, a lease that ran out): the lines are one row each, the spend once
    with session_scope(gw.engine) as session:
        session.execute(update(BatchJob).where(BatchJob.id == batch_id).values(recorded_at=None))
    eventually(lambda: recorded(gw, batch_id))
    settled(gw)
    assert counter(gw.engine) == (exact, Decimal(0))
    assert len(line_rows(gw, batch_id)) == LINES


def test_an_expired_job_books_what_completed(make_gateway: GatewayFactory, batch_mock: str) -> None:
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    hard_budget(gw.engine, BUDGET)
    client = openai.OpenAI(base_url=gw.base_url, api_key=key(gw.engine))
    batch_id = _run(gw, client, chat_lines(LINES), mock_outcome="expired")
    rows = line_rows(gw, batch_id)
    ran = [r for r in rows if r.outcome == "success"]
    assert 0 < len(ran) < LINES
    exact = sum((r.cost_usd or Decimal(0) for r in ran), Decimal(0))
    assert counter(gw.engine) == (exact, Decimal(0))


def test_a_job_that_failed_entirely_books_nothing(
    make_gateway: GatewayFactory, batch_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    hard_budget(gw.engine, BUDGET)
    client = openai.OpenAI(base_url=gw.base_url, api_key=key(gw.engine))
    batch_id = _run(gw, client, chat_lines(LINES), mock_outcome="failed")
    assert line_rows(gw, batch_id) == []
    assert counter(gw.engine) == (Decimal(0), Decimal(0))
