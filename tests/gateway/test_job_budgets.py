"""Hard budgets hold Batch API jobs: a job whose estimated cost (each input line's worst case
at Batch API rates) would exceed a hard budget is refused before it reaches upstream."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import openai
import orjson
import pytest

from collector.budgets import budget_statuses, catalog_prices, output_cap, worst_case_cost
from collector.mock_upstream import MockConfig, run_in_thread
from collector.settings import Settings
from collector.tokens import count_chat_prompt_tokens
from tests.gateway._batches import FAST, chat_lines
from tests.gateway._support import UPSTREAM_KEY, Gateway, GatewayFactory
from tests.gateway.test_admission_gateway import UTC_TZ, hard_budget, key, settled

LINES = 20


@pytest.fixture(scope="module")
def batch_mock() -> Iterator[str]:
    with run_in_thread(MockConfig(require_key=UPSTREAM_KEY, batch_step_s=0.1)) as url:
        yield url


def _estimate(data: bytes) -> Decimal:
    """Each line: its prompt counted, plus the model's output cap, at Batch API rates."""
    total, now = Decimal(0), datetime.now(UTC)
    cap = Settings().budget_default_output_cap
    for raw in data.splitlines():
        body = orjson.loads(raw)["body"]
        prices = catalog_prices(body["model"], now, batch=True)
        assert prices is not None
        prompt = count_chat_prompt_tokens(body["messages"], body["model"])
        total += worst_case_cost(prices, prompt, output_cap(body["model"], cap))
    return total


def _create(client: openai.OpenAI, file_id: str) -> openai.types.Batch:
    return client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )


def _upstream_jobs(upstream: str) -> list[object]:
    answer = httpx.get(f"{upstream}/batches", headers={"authorization": f"Bearer {UPSTREAM_KEY}"})
    return list(answer.json()["data"])


def test_a_job_over_a_hard_budget_is_refused_before_it_reaches_upstream(
    make_gateway: GatewayFactory, batch_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    data = chat_lines(LINES)
    estimate = _estimate(data)
    hard_budget(gw.engine, estimate - Decimal("0.000001"))
    client = openai.OpenAI(base_url=gw.base_url, api_key=key(gw.engine), max_retries=2)
    before = len(_upstream_jobs(batch_mock))
    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
    with pytest.raises(openai.RateLimitError) as caught:
        _create(client, uploaded.id)
    err = caught.value
    assert err.code == "insufficient_quota" and "Budget 'acme-day'" in err.message
    assert err.response.headers["x-should-retry"] == "false"
    assert len(_upstream_jobs(batch_mock)) == before  # nothing reached upstream
    settled(gw)
    blocked = [r for r in gw.requests() if r.endpoint == "/v1/batches"]
    assert [(r.outcome, r.http_status, r.attempt_count) for r in blocked] == [("blocked", 429, 0)]
    assert [r.outcome for r in gw.requests() if r.endpoint == "/v1/files"] == ["success"]


def test_a_job_within_a_hard_budget_runs_and_its_estimate_is_booked(
    make_gateway: GatewayFactory, batch_mock: str
) -> None:
    # no poll while the test looks: the job's lines would replace its estimate
    gw = make_gateway(upstream_base_url=batch_mock, batch_poll_interval_s=3600)
    data = chat_lines(LINES)
    estimate = _estimate(data)
    hard_budget(gw.engine, estimate)  # exactly affordable
    client = openai.OpenAI(base_url=gw.base_url, api_key=key(gw.engine))
    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
    job = _create(client, uploaded.id)
    assert job.status == "validating"
    settled(gw)
    [status] = budget_statuses(gw.engine, datetime.now(UTC), UTC_TZ)
    assert (status.spent_usd, status.reserved_usd) == (estimate, Decimal(0))
    # the budget is spent: the next job, and any request, is refused
    with pytest.raises(openai.RateLimitError):
        _create(client, uploaded.id)


def test_job_calls_that_cost_nothing_pass_a_hard_budget(
    make_gateway: GatewayFactory, batch_mock: str
) -> None:
    """Uploads, lists and retrieves carry no model: they hold nothing, even on a spent budget."""
    gw: Gateway = make_gateway(upstream_base_url=batch_mock, **FAST)
    hard_budget(gw.engine, Decimal("0.0000000001"))
    client = openai.OpenAI(base_url=gw.base_url, api_key=key(gw.engine))
    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(chat_lines(2))), purpose="batch")
    assert client.files.retrieve(uploaded.id).id == uploaded.id
    assert client.batches.list().data == []
