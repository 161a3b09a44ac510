"""Background Responses API responses through the gateway (the openai SDK against the mock): the
creating call is booked with a note, the poller follows the response until it ends, and its
usage becomes one priced row with the key's attribution — once, across restarts and followers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import openai
import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from collector.budgets import BudgetSpec, Mode, create_budget, parse_period, parse_scope
from collector.cli import app
from collector.db import BatchJob, Request, session_scope
from collector.db.models import BudgetCounter
from collector.mock_upstream import MockConfig, run_in_thread
from collector.pricing import BACKGROUND_NOTE, RETRIEVE_NOTE
from collector.recorder import BACKGROUND_KEY
from collector.settings import get_settings
from tests.gateway._background import (
    MODEL,
    exact_cost,
    finished,
    start,
    upstream_view,
    usage_rows,
)
from tests.gateway._batches import FAST, eventually, job_row, recorded
from tests.gateway._support import UPSTREAM_KEY, Gateway, GatewayFactory


@pytest.fixture(scope="module")
def bg_mock() -> Iterator[str]:
    with run_in_thread(MockConfig(require_key=UPSTREAM_KEY, background_s=0.2)) as url:
        yield url


def _row(gw_requests: list[Request], endpoint: str) -> list[Request]:
    return [r for r in gw_requests if r.endpoint == endpoint and r.batch_id is None]


def test_a_background_response_is_one_priced_row_with_the_keys_attribution(
    make_gateway: GatewayFactory, bg_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=bg_mock, **FAST)
    client = gw.client(gw.key(project="research", user="ana", tags={"team": "ml"}))
    response_id = start(client)
    row = finished(gw, response_id)
    wire = upstream_view(client, response_id)
    assert wire["status"] == "completed"
    usage = wire["usage"]
    assert (row.endpoint, row.outcome, row.cost_source) == ("/v1/responses", "success", "computed")
    assert (row.prompt_tokens, row.completion_tokens) == (
        usage["input_tokens"], usage["output_tokens"],
    )  # fmt: skip
    assert row.cost_usd == exact_cost(row, usage)
    assert (row.model_requested, row.model_served) == (MODEL, wire["model"])
    assert (row.service_tier, row.batch) == ("default", False)
    assert (row.end_user, row.tags) == ("ana", {"team": "ml"})
    assert row.project_id is not None and row.api_key_id is not None
    created = _row(gw.requests(), "/v1/responses")
    assert len(created) == 1
    post = created[0]
    assert (post.cost_source, post.cost_usd, post.cost_note) == ("unpriced", None, BACKGROUND_NOTE)
    assert (post.prompt_tokens, post.completion_tokens) == (0, 0)  # never an estimate
    assert post.metadata_[BACKGROUND_KEY]["id"] == response_id
    assert row.metadata_["background_request"] == post.id
    job = job_row(gw, response_id)
    assert job is not None and (job.kind, job.request_id, job.status) == (
        "response", post.id, "completed",
    )  # fmt: skip
    # The client's own reads of the response book nothing again.
    reads = _row(gw.requests(), f"/v1/responses/{response_id}")
    assert reads and all(
        (r.cost_source, r.cost_usd, r.cost_note, r.completion_tokens)
        == ("unpriced", None, RETRIEVE_NOTE, 0)
        for r in reads
    )
    assert len(usage_rows(gw, response_id)) == 1
    get_settings.cache_clear()
    env = {"SPENDSCOPE_DATABASE_URL": str(gw.engine.url)}
    listed = CliRunner().invoke(app, ["batches", "list", "--responses", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    [shown] = [json.loads(line) for line in listed.output.splitlines()]
    assert (shown["id"], shown["lines_recorded"]) == (response_id, 1)
    assert Decimal(shown["cost_usd"]) == row.cost_usd
    jobs = CliRunner().invoke(app, ["batches", "list", "--json"], env=env)
    assert jobs.exit_code == 0 and response_id not in jobs.output
    get_settings.cache_clear()


def test_failed_cancelled_and_incomplete_responses(
    make_gateway: GatewayFactory, bg_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=bg_mock, **FAST)
    client = gw.client()
    failed = finished(gw, start(client, mock_outcome="failed"))
    assert (failed.outcome, failed.cost_source, failed.cost_usd) == (
        "upstream_error", "computed", Decimal(0),
    )  # fmt: skip
    assert failed.error_type == "server_error" and failed.completion_tokens == 0
    cut_id = start(client, mock_outcome="incomplete")
    cut = finished(gw, cut_id)
    usage = upstream_view(client, cut_id)["usage"]
    assert cut.outcome == "success" and cut.completion_tokens == usage["output_tokens"]
    assert cut.cost_usd == exact_cost(cut, usage)
    long_id = start(client, delay_ms=60_000)
    stopped = client.responses.cancel(long_id)
    assert stopped.status == "cancelled" and stopped.usage is not None
    cancelled = finished(gw, long_id)
    assert (cancelled.outcome, cancelled.prompt_tokens) == (
        "cancelled", stopped.usage.input_tokens,
    )  # fmt: skip
    assert cancelled.cost_usd == exact_cost(cancelled, stopped.usage.model_dump())
    cancels = _row(gw.requests(), f"/v1/responses/{long_id}/cancel")
    assert len(cancels) == 1 and cancels[0].cost_usd is None
    assert cancels[0].cost_note == RETRIEVE_NOTE


def test_a_restart_while_it_runs_still_records_it_once(
    make_gateway: GatewayFactory, bg_mock: str
) -> None:
    first = make_gateway(upstream_base_url=bg_mock, **FAST)
    # Still running upstream when the first gateway has stopped: nothing recorded yet (the
    # delay leaves a loaded host seconds to start the job and stop the gateway; 1.5 s did not).
    response_id = start(first.client(), delay_ms=4000)
    first.server.stop()
    stored = job_row(first, response_id)
    assert stored is not None and stored.recorded_at is None and stored.lease_owner is None
    second = make_gateway(upstream_base_url=bg_mock, **FAST)
    row = finished(second, response_id)
    assert row.cost_usd is not None and row.cost_usd > 0


def test_two_followers_record_each_response_once(
    make_gateway: GatewayFactory, bg_mock: str
) -> None:
    one = make_gateway(upstream_base_url=bg_mock, **FAST)
    two = make_gateway(upstream_base_url=bg_mock, **FAST)
    ids = [start(one.client(), delay_ms=100 * i) for i in range(6)]
    eventually(lambda: all(recorded(one, response_id) for response_id in ids))
    two.server.flush()  # either follower may have recorded any of them
    one.server.flush()
    assert all(len(usage_rows(one, response_id)) == 1 for response_id in ids)
    # Every response read again by the other follower (a lost lease, a retry): nothing twice.
    with session_scope(two.engine) as session:
        session.execute(update(BatchJob).values(recorded_at=None))
    two.server.run(two.server.runtime.batches.poll_once())

    def read_again() -> bool:  # by ``two`` or, racing it, by ``one``'s own poller
        one.server.flush()
        two.server.flush()
        stats = (one.server.runtime.recorder.stats, two.server.runtime.recorder.stats)
        return sum(int(s.duplicates) for s in stats) >= len(ids)

    eventually(read_again)
    eventually(lambda: all(recorded(one, response_id) for response_id in ids))
    with session_scope(one.engine) as session:
        query = select(Request.batch_id, func.count()).where(Request.batch_id.in_(ids))
        counts = dict(session.execute(query.group_by(Request.batch_id)).tuples().all())
    assert counts == dict.fromkeys(ids, 1)


def _under_a_hard_budget(make_gateway: GatewayFactory, bg_mock: str) -> Gateway:
    """A gateway on the background mock, project acme under a $100 daily hard budget."""
    gw = make_gateway(upstream_base_url=bg_mock, budget_cache_ttl_s=0.01, **FAST)
    spec = BudgetSpec("acme-day", parse_scope("project:acme"), parse_period("day"),
                      Decimal(100), Mode.HARD)  # fmt: skip
    create_budget(gw.engine, spec, datetime.now(UTC))
    return gw


def test_a_hard_budget_books_the_estimate_then_the_exact_cost(
    make_gateway: GatewayFactory, bg_mock: str
) -> None:
    gw = _under_a_hard_budget(make_gateway, bg_mock)
    client = gw.client(gw.key(project="acme"))
    response_id = start(client, delay_ms=2000)
    gw.server.flush()
    assert gw.server.run(gw.server.runtime.admitter.ledger.flush(10))
    held = _spent(gw)
    assert held > 0  # the worst case of the call, kept for the response while it runs
    row = finished(gw, response_id)
    assert row.cost_usd is not None and row.cost_usd < held
    eventually(lambda: _spent(gw) == row.cost_usd)


def test_a_hard_budget_books_a_whole_background_stream_at_its_exact_cost(
    make_gateway: GatewayFactory, bg_mock: str
) -> None:
    gw = _under_a_hard_budget(make_gateway, bg_mock)
    client = gw.client(gw.key(project="acme"))
    stream = client.responses.create(model=MODEL, input="stream it", background=True, stream=True)
    [done] = [e for e in stream if e.type == "response.completed"]
    row = finished(gw, done.response.id)
    assert row.cost_usd is not None and row.cost_usd > 0
    eventually(lambda: _spent(gw) == row.cost_usd)


def test_background_streams_whole_and_cut_are_one_priced_row_each(
    make_gateway: GatewayFactory, bg_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=bg_mock, **FAST)
    client = gw.client()
    whole = client.responses.create(model=MODEL, input="stream it", background=True, stream=True)
    done = [e for e in whole if e.type == "response.completed"]
    assert len(done) == 1
    whole_id = done[0].response.id
    assert done[0].response.usage is not None
    whole_row = finished(gw, whole_id)  # from its own response.completed, or the poller's read
    assert whole_row.cost_usd == exact_cost(whole_row, done[0].response.usage.model_dump())
    with pytest.raises(openai.APIError):
        cut = client.responses.create(
            model=MODEL, input="stream it", background=True, stream=True,
            extra_headers={"x-mock-fault": "cut@3"},
        )  # fmt: skip
        for _ in cut:
            pass
    gw.server.flush()
    started = _row(gw.requests(), "/v1/responses")
    assert len(started) == 2 and {r.outcome for r in started} == {"success", "upstream_error"}
    for made in started:  # neither books tokens: each response's own row does
        assert (made.cost_note, made.prompt_tokens) == (BACKGROUND_NOTE, 0)
    [creating] = [r for r in started if r.outcome != "success"]
    cut_id = creating.metadata_[BACKGROUND_KEY]["id"]
    row = finished(gw, cut_id)
    assert row.cost_usd == exact_cost(row, upstream_view(client, cut_id)["usage"])
    for response_id in (whole_id, cut_id):
        job = job_row(gw, response_id)
        assert job is not None and job.status == "completed" and job.lines_recorded == 1


def _spent(gw: Gateway) -> Decimal:
    with session_scope(gw.engine) as session:
        return Decimal(session.scalar(select(func.sum(BudgetCounter.spent_usd))) or 0)
