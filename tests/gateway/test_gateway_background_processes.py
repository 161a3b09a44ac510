"""Two ``spendscope serve`` processes on one database (SQLite, PostgreSQL) both follow the
background responses one of them relayed: each response is one usage row, and a hard budget
ends up booked with exactly what those rows cost. The process that relayed them is killed
(SIGKILL) while some still run, and the ended ones are made to look unrecorded: the survivor
follows them all, and each still has one row and one booking. A process killed mid
background stream has registered the response before its client saw the first event, so the
next process records it; a stream cut on one process and resumed on the other is one row."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import String, func, or_, select, text, update

from collector.budgets import BudgetSpec, Mode, create_budget, parse_period, parse_scope
from collector.db import BatchJob, Request, make_engine, session_scope
from collector.db.models import BudgetCounter
from tests.faults._harness import Gateway, MockUpstream, eventually

RESPONSES = 8


@pytest.fixture
def two(db_url: str, tmp_path: Path) -> Iterator[tuple[Gateway, Gateway, str]]:
    mock = MockUpstream(tmp_path, None, "--background-s", "1.5")
    polling = {"SPENDSCOPE_BATCH_POLL_INTERVAL_S": "0.1", "SPENDSCOPE_BATCH_LEASE_S": "3",
               "SPENDSCOPE_BUDGET_CACHE_TTL_S": "0.01"}  # fmt: skip
    gateways = [
        Gateway(
            work=tmp_path,
            database_url=db_url,
            upstream=mock.base_url,
            spool_dir=tmp_path / f"spool-{i}",
            extra=polling,
        )
        for i in (1, 2)
    ]
    try:
        key = gateways[0].create_key()
        for gateway in gateways:
            gateway.start()
        yield gateways[0], gateways[1], key
    finally:
        for gateway in gateways:
            gateway.stop()
        mock.stop()


def _state(url: str, ids: list[str]) -> tuple[dict[str, int], int, Decimal, Decimal]:
    """(usage rows per response, responses recorded, hard budget spent, rows' cost)."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            per = select(Request.batch_id, func.count()).where(Request.batch_id.in_(ids))
            rows = dict(session.execute(per.group_by(Request.batch_id)).tuples().all())
            ended = BatchJob.id.in_(ids), BatchJob.recorded_at.is_not(None)
            done = session.scalar(select(func.count()).where(*ended))
            spent = session.scalar(select(func.sum(BudgetCounter.spent_usd)))
            costs = select(func.sum(Request.cost_usd)).where(Request.batch_id.in_(ids))
            cost = session.scalar(costs)
    finally:
        engine.dispose()
    counted = {str(k): int(v) for k, v in rows.items()}
    return counted, int(done or 0), Decimal(spent or 0), Decimal(cost or 0)


def _kept(url: str) -> int:
    """Budget bookings kept for responses still running (their settles are written)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = "SELECT count(*) FROM budget_bookings WHERE key LIKE 'job:%'"
            return int(conn.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


def _create(client: openai.OpenAI, n: int, delay_ms: int) -> list[str]:
    metadata = {"mock_delay_ms": str(delay_ms)}
    return [
        client.responses.create(
            model="gpt-4o-mini", input=f"task {i}", background=True, metadata=metadata
        ).id
        for i in range(n)
    ]


def test_two_processes_record_each_response_once(two: tuple[Gateway, Gateway, str]) -> None:
    one, other, key = two
    url = one.database_url
    engine = make_engine(url)
    create_budget(engine, BudgetSpec("acme", parse_scope("global"), parse_period("day"),
                                     Decimal(100), Mode.HARD), datetime.now(UTC))  # fmt: skip
    engine.dispose()
    client = openai.OpenAI(base_url=one.base_url, api_key=key, max_retries=0, timeout=60)
    first = _create(client, RESPONSES, 300)
    assert eventually(lambda: _state(url, first)[1] == RESPONSES, 120)
    assert eventually(lambda: _state(url, first)[2] == _state(url, first)[3] > 0, 60)
    assert _state(url, first)[0] == dict.fromkeys(first, 1)
    # More responses, and the process that relayed them is killed while they still run.
    second = _create(client, RESPONSES, 4000)
    assert eventually(lambda: _kept(url) == RESPONSES, 60)
    one.kill()
    every = first + second
    engine = make_engine(url)
    with session_scope(engine) as session:  # the first ones look unrecorded again, too
        session.execute(update(BatchJob).where(BatchJob.id.in_(first)).values(recorded_at=None))
    engine.dispose()
    assert eventually(lambda: _state(url, every)[1] == 2 * RESPONSES, 120)
    assert eventually(other.drained, 30)
    rows, _, spent, cost = _state(url, every)
    assert rows == dict.fromkeys(every, 1)
    assert spent == cost and _kept(url) == 0


def test_a_gateway_killed_mid_background_stream_leaves_the_response_to_the_next(
    two: tuple[Gateway, Gateway, str],
) -> None:
    one, other, key = two
    other.stop()  # one gateway, killed and started again
    url = one.database_url
    client = openai.OpenAI(base_url=one.base_url, api_key=key, max_retries=0, timeout=60)
    stream = client.responses.create(
        model="gpt-4o-mini", input="a long answer", background=True, stream=True,
        extra_headers={"x-mock-tokens-per-s": "2"},  # 8 tokens: 4 s of stream
    )  # fmt: skip
    first = next(iter(stream))
    assert first.type == "response.created"
    response_id = first.response.id
    assert _state(url, [response_id]) == ({}, 0, Decimal(0), Decimal(0))
    assert _job_known(url, response_id)  # registered before the client saw the event
    one.kill()
    with contextlib.suppress(openai.APIError, httpx.HTTPError):
        for _ in stream:
            pass
    one.start()
    assert eventually(lambda: _state(url, [response_id])[1] == 1, 60)
    assert eventually(one.drained, 30)
    rows, _, _, cost = _state(url, [response_id])
    assert rows == {response_id: 1} and cost > 0


def test_a_stream_cut_on_one_process_and_resumed_on_the_other_is_metered_once(
    two: tuple[Gateway, Gateway, str],
) -> None:
    one, other, key = two
    url = one.database_url
    seen: list[Any] = []
    first = openai.OpenAI(base_url=one.base_url, api_key=key, max_retries=0, timeout=60)
    with pytest.raises(openai.APIError):
        for event in first.responses.create(
            model="gpt-4o-mini", input="stream it", background=True, stream=True,
            extra_headers={"x-mock-fault": "cut@3"},
        ):  # fmt: skip
            seen.append(event)
    response_id = seen[0].response.id
    second = openai.OpenAI(base_url=other.base_url, api_key=key, max_retries=0, timeout=60)
    resumed = list(second.responses.retrieve(response_id, stream=True, starting_after=2))
    assert resumed[0].sequence_number == 3 and resumed[-1].type == "response.completed"
    assert resumed[-1].response.usage is not None
    assert eventually(lambda: _state(url, [response_id])[1] == 1, 60)
    assert eventually(lambda: one.drained() and other.drained(), 30)
    rows, _, _, cost = _state(url, [response_id])
    assert rows == {response_id: 1} and cost > 0
    assert _priced(url, response_id) == cost  # the cut and resumed streams booked nothing


def _job_known(url: str, response_id: str) -> bool:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            return session.get(BatchJob, response_id) is not None
    finally:
        engine.dispose()


def _priced(url: str, response_id: str) -> Decimal:
    """What every row about the response costs: its creation, its reads, its own row."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            query = select(Request.cost_usd).where(
                or_(Request.batch_id == response_id, Request.endpoint.contains(response_id),
                    func.cast(Request.metadata_, String).contains(response_id))
            )  # fmt: skip
            return sum((c for c in session.scalars(query) if c is not None), Decimal(0))
    finally:
        engine.dispose()
