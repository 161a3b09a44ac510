"""Two ``spendscope serve`` processes on one database (SQLite, PostgreSQL) both poll a Batch
API job: each line is recorded once, and the job's row says so. Then one process is killed
(SIGKILL) and the job made to look unrecorded: the survivor reads the files again, and every
line still has one row."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from sqlalchemy import func, select, update

from collector.budgets import BudgetSpec, Mode, create_budget, parse_period, parse_scope
from collector.db import BatchJob, Request, make_engine, session_scope
from collector.db.models import BudgetCounter
from tests.faults._harness import Gateway, MockUpstream, eventually
from tests.gateway._batches import chat_lines

LINES = 600


@pytest.fixture
def two(db_url: str, tmp_path: Path) -> Iterator[tuple[Gateway, Gateway, str]]:
    """Both processes on SQLite, and on PostgreSQL when configured."""
    mock = MockUpstream(tmp_path, None, "--batch-step-s", "0.5")
    url = db_url
    polling = {"SPENDSCOPE_BATCH_POLL_INTERVAL_S": "0.1", "SPENDSCOPE_BATCH_LEASE_S": "3",
               "SPENDSCOPE_BUDGET_CACHE_TTL_S": "0.01"}  # fmt: skip
    gateways = [
        Gateway(
            work=tmp_path,
            database_url=url,
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


def _rows(url: str, batch_id: str) -> tuple[int, int]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            query = select(func.count(), func.count(func.distinct(Request.id)))
            n, distinct = session.execute(query.where(Request.batch_id == batch_id)).one()
        return int(n), int(distinct)
    finally:
        engine.dispose()


def _job(url: str, batch_id: str) -> BatchJob | None:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            return session.get(BatchJob, batch_id)
    finally:
        engine.dispose()


def _budget(url: str) -> None:
    """A hard budget over the key's project: the job is admitted against its estimate."""
    engine = make_engine(url)
    day = parse_period("day")
    create_budget(engine, BudgetSpec("acme", parse_scope("global"), day, Decimal(100),
                                     Mode.HARD), datetime.now(UTC))  # fmt: skip
    engine.dispose()


def _booked(url: str, batch_id: str) -> tuple[Decimal, Decimal]:
    """(what the hard budget booked, what the job's line rows cost)."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            booked = session.scalar(select(func.sum(BudgetCounter.spent_usd)))
            lines = select(func.sum(Request.cost_usd)).where(Request.batch_id == batch_id)
            cost = session.scalar(lines)
        return Decimal(booked or 0), Decimal(cost or 0)
    finally:
        engine.dispose()


def test_two_processes_record_each_line_once(two: tuple[Gateway, Gateway, str]) -> None:
    """…and book the job's lines' cost on its hard budget once, in place of its estimate."""
    one, other, key = two
    _budget(one.database_url)
    client = openai.OpenAI(base_url=one.base_url, api_key=key, max_retries=0, timeout=60)
    uploaded = client.files.create(
        file=("in.jsonl", io.BytesIO(chat_lines(LINES))), purpose="batch"
    )
    job = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    url = one.database_url

    def recorded() -> bool:
        row = _job(url, job.id)
        return row is not None and row.recorded_at is not None

    assert eventually(recorded, 120)
    assert eventually(lambda: _rows(url, job.id)[0] == LINES, 60)
    row = _job(url, job.id)
    assert row is not None and (row.lines_recorded, row.lease_owner) == (LINES, None)
    booked, cost = _booked(url, job.id)
    assert booked == cost > 0
    # Kill one process and make the job look unrecorded: the survivor reads it all again.
    one.kill()
    engine = make_engine(url)
    with session_scope(engine) as session:
        session.execute(update(BatchJob).values(recorded_at=None))
    engine.dispose()
    assert eventually(recorded, 60)
    assert eventually(other.drained, 30)
    assert _rows(url, job.id) == (LINES, LINES)
    assert _booked(url, job.id) == (cost, cost)
