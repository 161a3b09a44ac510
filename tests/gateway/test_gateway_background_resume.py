"""Background streams taken up again through the gateway (``GET /v1/responses/{id}?stream=true
&starting_after=N``, the openai SDK's ``responses.retrieve(id, stream=True, ...)``): relayed
to the response's own project only, and the response metered once whichever of the cut
stream, the resumed stream and the poller sees its end first — in one gateway and in two."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest
from sqlalchemy import select

from collector.db import Request, session_scope
from collector.mock_upstream import MockConfig, run_in_thread
from collector.pricing import RETRIEVE_NOTE
from tests.gateway._background import MODEL, exact_cost, finished, usage_rows
from tests.gateway._batches import FAST, eventually, job_row, recorded
from tests.gateway._support import UPSTREAM_KEY, Gateway, GatewayFactory

SLOW = {"batch_poll_interval_s": 3600.0, "batch_lease_s": 5.0}  # the poller reads nothing


@pytest.fixture(scope="module")
def bg_mock() -> Iterator[str]:
    with run_in_thread(MockConfig(require_key=UPSTREAM_KEY, background_s=0.2)) as url:
        yield url


def cut_stream(client: openai.OpenAI, events: int = 3) -> tuple[str, int]:
    """A background stream cut after ``events`` events: (its response id, last sequence no)."""
    seen: list[Any] = []
    with pytest.raises(openai.APIError):
        for event in client.responses.create(
            model=MODEL, input="stream it", background=True, stream=True,
            extra_headers={"x-mock-fault": f"cut@{events}"},
        ):  # fmt: skip
            seen.append(event)
    assert len(seen) == events
    return str(seen[0].response.id), int(seen[-1].sequence_number)


def resume(client: openai.OpenAI, response_id: str, after: int) -> list[Any]:
    return list(client.responses.retrieve(response_id, stream=True, starting_after=after))


def spent_on(gw: Gateway, response_id: str) -> tuple[Decimal, int]:
    """Every row's cost and prompt tokens for the response: its creation, reads, own row."""
    gw.server.flush()
    with session_scope(gw.engine) as session:
        rows = list(session.scalars(select(Request)))
    mine = [
        r for r in rows
        if r.batch_id == response_id or response_id in r.endpoint
        or response_id in str(r.metadata_ or {})
    ]  # fmt: skip
    cost = sum((r.cost_usd for r in mine if r.cost_usd is not None), Decimal(0))
    return cost, sum(r.prompt_tokens for r in mine)


def test_a_resumed_stream_that_sees_the_end_first_meters_it_once(
    make_gateway: GatewayFactory, bg_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=bg_mock, **SLOW)
    client = gw.client()
    response_id, last = cut_stream(client)
    job = job_row(gw, response_id)
    assert job is not None and job.recorded_at is None  # registered from its first event
    events = resume(client, response_id, last)
    assert [e.sequence_number for e in events] == list(range(last + 1, last + 1 + len(events)))
    final = events[-1]
    assert final.type == "response.completed" and final.response.usage is not None
    eventually(lambda: recorded(gw, response_id), 10)  # by the resumed stream, not the poller
    row = finished(gw, response_id)
    usage = final.response.usage.model_dump()
    assert row.cost_usd == exact_cost(row, usage) and row.prompt_tokens == usage["input_tokens"]
    assert resume(client, response_id, last)[-1].type == "response.completed"  # again: nothing
    reads = [r for r in gw.requests() if r.endpoint == f"/v1/responses/{response_id}"]
    assert len(reads) == 2 and all(
        (r.cost_source, r.cost_usd, r.cost_note, r.prompt_tokens, r.completion_tokens)
        == ("unpriced", None, RETRIEVE_NOTE, 0, 0)
        for r in reads
    )
    assert spent_on(gw, response_id) == (row.cost_usd, usage["input_tokens"])


def test_a_resumed_stream_after_the_poller_recorded_it_books_nothing(
    make_gateway: GatewayFactory, bg_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=bg_mock, **FAST)
    client = gw.client()
    response_id, last = cut_stream(client, 2)
    row = finished(gw, response_id)
    assert resume(client, response_id, last)[-1].type == "response.completed"
    assert len(usage_rows(gw, response_id)) == 1
    assert spent_on(gw, response_id) == (row.cost_usd, row.prompt_tokens)


def test_another_projects_response_is_not_found(make_gateway: GatewayFactory, bg_mock: str) -> None:
    gw = make_gateway(upstream_base_url=bg_mock, **SLOW)
    mine, theirs = gw.client(gw.key(project="research")), gw.client(gw.key(project="sales"))
    response_id, last = cut_stream(mine)
    for attempt in (
        lambda: resume(theirs, response_id, last),
        lambda: theirs.responses.retrieve(response_id),
        lambda: theirs.responses.cancel(response_id),
        lambda: theirs.responses.delete(response_id),
    ):
        with pytest.raises(openai.NotFoundError, match=response_id):
            attempt()
    with pytest.raises(openai.NotFoundError, match="resp_never_relayed"):
        resume(mine, "resp_never_relayed", 0)
    assert not recorded(gw, response_id)  # nobody else's read ended it
    assert mine.responses.retrieve(response_id).id == response_id


def test_two_gateways_meter_a_stream_cut_on_one_and_resumed_on_the_other_once(
    make_gateway: GatewayFactory, bg_mock: str
) -> None:
    one = make_gateway(upstream_base_url=bg_mock, **SLOW)
    two = make_gateway(upstream_base_url=bg_mock, **FAST)
    key = one.key()
    response_id, last = cut_stream(one.client(key))
    events = resume(two.client(key), response_id, last)
    assert events[-1].type == "response.completed"
    row = finished(two, response_id)
    one.server.flush()
    assert resume(one.client(key), response_id, last)[-1].type == "response.completed"
    assert len(usage_rows(one, response_id)) == len(usage_rows(two, response_id)) == 1
    assert spent_on(two, response_id) == (row.cost_usd, row.prompt_tokens)
