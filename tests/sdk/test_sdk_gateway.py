"""The middleware against a real gateway and mock upstream, with the official openai SDK.

What the app attributes must be what the gateway records, and what the app reads back
(request id, cost) must be the recorded row's. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from collector import sdk as spendscope
from tests.gateway._support import Gateway, GatewayFactory

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say something short."}]


def _client(gw: Gateway, **options: Any) -> openai.OpenAI:
    return spendscope.spendscope_client(
        openai.OpenAI, base_url=gw.base_url, api_key=gw.key(), max_retries=0, **options
    )


def test_rows_carry_the_attribution_and_the_app_reads_back_id_and_cost(
    gateway_on: GatewayFactory,
) -> None:
    gw = gateway_on()
    seen: list[spendscope.CallRecord] = []
    client = _client(
        gw, user="alice", tags={"team": "search"}, metadata={"ticket": "T-1"}, on_call=seen.append
    )
    with spendscope.attribute(tags={"feature": "autocomplete"}, metadata={"step": 2}) as scope:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    call = spendscope.last_call()
    assert call is not None and call.request_id is not None and seen == [call]
    row = gw.request(call.request_id)
    assert row.end_user == "alice"
    assert row.tags == {"team": "search", "feature": "autocomplete"}
    assert row.metadata_ == {"ticket": "T-1", "step": 2}
    assert row.cost_usd is not None and row.cost_usd > 0
    assert call.cost_usd == row.cost_usd and scope.cost_usd == row.cost_usd
    assert (call.status_code, call.path, call.stream) == (200, "/v1/chat/completions", False)
    assert call.upstream_request_id == row.upstream_request_id
    assert scope.calls == [call]


def test_inner_blocks_win_and_per_call_headers_win_over_blocks(gateway: Gateway) -> None:
    client = _client(gateway, user="svc", tags={"env": "prod"})
    with spendscope.attribute(user="alice", tags={"feature": "a"}):
        with spendscope.attribute(user="bob", tags={"feature": "b"}, metadata={"x": 1}):
            client.embeddings.create(model="text-embedding-3-small", input="hi")
            inner = spendscope.last_call()
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-spendscope-user": "carol"}
        )
        explicit = spendscope.last_call()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    outside = spendscope.last_call()
    assert inner and explicit and outside and inner.request_id and explicit.request_id
    row = gateway.request(inner.request_id)
    assert (row.end_user, row.tags, row.metadata_) == (
        "bob",
        {"env": "prod", "feature": "b"},
        {"x": 1},
    )
    assert gateway.request(explicit.request_id).end_user == "carol"
    last = gateway.request(outside.request_id or "")
    assert (last.end_user, last.tags) == ("svc", {"env": "prod"})


def test_non_ascii_user_and_tag_values_arrive_intact(gateway: Gateway) -> None:
    client = _client(gateway)
    with spendscope.attribute(user="zoë", tags={"team": "recherche-é"}):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    call = spendscope.last_call()
    assert call is not None and call.request_id
    row = gateway.request(call.request_id)
    assert (row.end_user, row.tags) == ("zoë", {"team": "recherche-é"})


def test_streams_give_the_request_id_but_no_cost(gateway: Gateway) -> None:
    client = _client(gateway, tags={"kind": "stream"})
    with spendscope.attribute(user="streamer") as scope:
        chunks = list(
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        )
    assert chunks
    (call,) = scope.calls
    assert call.stream and call.cost_usd is None and call.request_id
    row = gateway.request(call.request_id)
    assert row.stream and row.end_user == "streamer" and row.tags == {"kind": "stream"}
    assert row.cost_usd is not None and scope.cost_usd == Decimal(0)


def test_instrument_copies_an_existing_client(gateway: Gateway) -> None:
    plain = gateway.client()
    client = spendscope.instrument(plain, user="dora", tags={"via": "instrument"})
    assert client is not plain
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    call = spendscope.last_call()
    assert call is not None and call.request_id
    row = gateway.request(call.request_id)
    assert (row.end_user, row.tags) == ("dora", {"via": "instrument"})
    plain.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert spendscope.last_call() == call  # the original client is left as it was


def test_a_failing_callback_never_breaks_the_request(gateway: Gateway) -> None:
    def broken(record: spendscope.CallRecord) -> None:
        raise RuntimeError("app bug")

    client = _client(gateway, on_call=broken)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert reply.choices[0].message.content
    call = spendscope.last_call()
    assert call is not None and call.request_id and gateway.request(call.request_id)


def test_refusals_are_recorded_calls_too(gateway: Gateway) -> None:
    client = _client(gateway)
    key_user = spendscope.spendscope_client(
        openai.OpenAI, base_url=gateway.base_url, api_key=gateway.key(user="owner"), max_retries=0
    )
    with spendscope.attribute(user="someone-else"):
        try:
            key_user.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        except openai.BadRequestError as exc:
            assert "x-spendscope-user" in str(exc)
        else:
            raise AssertionError("the gateway accepted a user the key does not allow")
    call = spendscope.last_call()
    assert call is not None and call.status_code == 400 and call.request_id
    assert gateway.request(call.request_id).outcome == "client_error"
    del client


def test_the_current_span_gets_id_and_cost_and_the_row_gets_its_traceparent(
    gateway: Gateway,
) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    client = _client(gateway)
    with provider.get_tracer("app").start_as_current_span("answer question") as span:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        expected = spendscope.current_traceparent()
    call = spendscope.last_call()
    assert call is not None and call.request_id and call.cost_usd is not None
    (finished,) = spans.get_finished_spans()
    assert finished.attributes is not None
    assert finished.attributes["spendscope.request_id"] == call.request_id
    assert Decimal(str(finished.attributes["spendscope.cost_usd"])) == call.cost_usd
    context = span.get_span_context()
    flags = int(context.trace_flags)
    assert expected == f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"
    assert gateway.request(call.request_id).metadata_ == {"traceparent": expected}
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    outside = spendscope.last_call()
    assert outside is not None and gateway.request(outside.request_id or "").metadata_ == {}
