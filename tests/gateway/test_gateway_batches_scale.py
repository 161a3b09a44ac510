"""A Batch API job of 10,000 lines, with the gateway restarted while it runs: 10,000 priced
rows at batch rates with the job's attribution, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from collector.db import Request, session_scope
from collector.mock_upstream import MockConfig, run_in_thread
from tests.gateway._batches import FAST, chat_lines, count_lines, eventually, recorded, start_job
from tests.gateway._support import UPSTREAM_KEY, GatewayFactory

LINES = 10_000


@pytest.fixture(scope="module")
def slow_batch_mock() -> Iterator[str]:
    """Jobs spend 1 s in each state, so a restart lands while the job runs."""
    with run_in_thread(MockConfig(require_key=UPSTREAM_KEY, batch_step_s=1.0)) as url:
        yield url


def test_ten_thousand_lines_across_a_restart(
    gateway_on: GatewayFactory, slow_batch_mock: str
) -> None:
    first = gateway_on(upstream_base_url=slow_batch_mock, **FAST)
    key = first.key(project="etl", user="nightly", tags={"job": "summaries"})
    batch_id = start_job(first.client(key), chat_lines(LINES))
    first.server.stop()
    second = gateway_on(upstream_base_url=slow_batch_mock, **FAST)
    eventually(lambda: recorded(second, batch_id), seconds=180)
    second.server.flush()
    assert count_lines(second, batch_id) == LINES
    stats = second.server.runtime.recorder.stats
    assert stats.direct == LINES  # straight to the writer process, none through the journal
    with session_scope(second.engine) as session:
        query = (
            select(Request.outcome, Request.cost_source, Request.batch, Request.end_user,
                   func.count(), func.count(Request.cost_usd))
            .where(Request.batch_id == batch_id)
            .group_by(Request.outcome, Request.cost_source, Request.batch, Request.end_user)
        )  # fmt: skip
        groups = [tuple(row) for row in session.execute(query)]
        tags = session.scalars(
            select(Request.tags).where(Request.batch_id == batch_id).limit(1)
        ).one()
    assert groups == [("success", "computed", True, "nightly", LINES, LINES)]
    assert tags == {"job": "summaries"}
