"""``POST /v1/traces``: spans made by the real OpenTelemetry SDK, sent by its OTLP/HTTP
exporter (protobuf) or encoded as OTLP JSON, booked as priced requests; other spans ignored.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from collector.pricing import compute_cost
from collector.usage import Usage
from tests.gateway._support import Gateway, GatewayFactory

PROTOBUF = "application/x-protobuf"
RESOURCE = {"service.name": "notebook", "spendscope.tag.team": "research"}


@contextmanager
def _provider(exporter: SpanExporter, **resource: str) -> Iterator[TracerProvider]:
    provider = TracerProvider(resource=Resource.create({**RESOURCE, **resource}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield provider
    finally:
        provider.shutdown()


def _genai_spans(provider: TracerProvider) -> None:
    """What an instrumented app emits: an agent span around two model calls and a tool."""
    tracer = provider.get_tracer("test.genai")
    with tracer.start_as_current_span("invoke_agent planner") as agent:
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        agent.set_attribute("gen_ai.system", "openai")
        with tracer.start_as_current_span("chat gpt-4o-mini") as chat:
            chat.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": 2000,
                    "gen_ai.usage.output_tokens": 150,
                    "gen_ai.usage.cache_read.input_tokens": 1024,
                    "gen_ai.response.id": "chatcmpl-123",
                }
            )
        with tracer.start_as_current_span("embeddings text-embedding-3-small") as emb:
            emb.set_attributes(
                {
                    "gen_ai.operation.name": "embeddings",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "text-embedding-3-small",
                    "gen_ai.usage.input_tokens": 800,
                }
            )
        with tracer.start_as_current_span("execute_tool search") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
        with tracer.start_as_current_span("chat gpt-4o") as failed:
            failed.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "error.type": "RateLimitError",
                    "http.response.status_code": 429,
                }
            )
            failed.set_status(Status(StatusCode.ERROR, "rate limited"))
    with tracer.start_as_current_span("GET /health"):
        pass


def _traces_url(gw: Gateway) -> str:
    return gw.base_url + "/traces"


def _check_booked(gw: Gateway) -> None:
    rows = {r.model_requested: r for r in gw.requests()}
    assert set(rows) == {"gpt-4o-mini", "text-embedding-3-small", "gpt-4o"}
    chat = rows["gpt-4o-mini"]
    usage = Usage(prompt_tokens=2000, completion_tokens=150, cached_tokens=1024)
    expected = compute_cost(usage, "gpt-4o-mini-2024-07-18", chat.started_at)
    assert chat.cost_usd == expected.cost_usd and chat.cost_usd is not None
    assert (chat.cost_source, chat.model_served) == ("reported", "gpt-4o-mini-2024-07-18")
    assert (chat.endpoint, chat.upstream_request_id) == ("/v1/chat/completions", "chatcmpl-123")
    assert chat.tags == {"team": "research"}
    assert chat.metadata_["service.name"] == "notebook"
    assert chat.metadata_["traceparent"].startswith("00-")
    emb = rows["text-embedding-3-small"]
    assert (emb.endpoint, emb.prompt_tokens, emb.cost_source) == ("/v1/embeddings", 800, "reported")
    assert emb.cost_usd is not None and emb.cost_usd > 0
    failed = rows["gpt-4o"]
    assert (failed.outcome, failed.http_status, failed.error_type) == (
        "upstream_error",
        429,
        "RateLimitError",
    )
    assert failed.cost_usd == 0 and failed.error_message == "rate limited"


def test_the_sdk_exporter_protobuf_spans_are_booked_and_others_ignored(
    gateway_on: GatewayFactory,
) -> None:
    gw = gateway_on()
    key = gw.key()

    def exporter() -> OTLPSpanExporter:
        return OTLPSpanExporter(
            endpoint=_traces_url(gw),
            headers={"authorization": f"Bearer {key}"},
            compression=Compression.Gzip,
        )

    with _provider(exporter()) as provider:
        _genai_spans(provider)
    _check_booked(gw)
    with _provider(exporter()) as provider:  # a second export of new spans adds rows
        tracer = provider.get_tracer("again")
        with tracer.start_as_current_span("chat") as span:
            span.set_attributes(
                {
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 10,
                    "gen_ai.usage.output_tokens": 5,
                }
            )
    assert len(gw.requests()) == 4


def _otlp_json(spans: Sequence[ReadableSpan], *, hex_ids: bool = True) -> dict[str, Any]:
    """OTLP JSON as the spec has it: protobuf's JSON mapping with ids in hex."""
    data = MessageToDict(encode_spans(spans))
    if hex_ids:
        for rs in data["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    for name in ("traceId", "spanId", "parentSpanId"):
                        if name in span:
                            span[name] = base64.b64decode(span[name]).hex()
    return data


def test_otlp_json_is_booked_once_and_the_answer_counts_what_was_ignored(
    gateway: Gateway,
) -> None:
    memory = InMemorySpanExporter()
    with _provider(memory) as provider:
        _genai_spans(provider)
    body = orjson.dumps(_otlp_json(memory.get_finished_spans()))
    headers = {"authorization": f"Bearer {gateway.key()}", "content-type": "application/json"}
    res = httpx.post(_traces_url(gateway), content=body, headers=headers)
    assert res.status_code == 200, res.text
    assert res.json() == {"spendscope": {"booked": 3, "rejected": 0, "ignored": 3}}
    _check_booked(gateway)
    # the same spans again (an exporter retry), ids in protobuf's base64 this time
    body = orjson.dumps(_otlp_json(memory.get_finished_spans(), hex_ids=False))
    assert httpx.post(_traces_url(gateway), content=body, headers=headers).status_code == 200
    assert len(gateway.requests()) == 3


def test_bad_spans_are_rejected_in_a_partial_success_and_bad_exports_whole(
    gateway: Gateway,
) -> None:
    key = gateway.key(user="svc")
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "chat",
        "startTimeUnixNano": "1765000000000000000",
        "endTimeUnixNano": "1765000001000000000",
        "attributes": [
            {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "-4"}},
        ],
    }
    other_user = {
        **span,
        "spanId": "eee19b7ec3c1b175",
        "attributes": [
            *span["attributes"][:2],
            {"key": "user.id", "value": {"stringValue": "mallory"}},
        ],
    }
    export = {"resourceSpans": [{"scopeSpans": [{"spans": [span, other_user]}]}]}
    auth = {"authorization": f"Bearer {key}"}
    res = httpx.post(_traces_url(gateway), json=export, headers=auth)
    assert res.status_code == 200
    partial = res.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "gen_ai.usage.input_tokens must be a non-negative integer" in partial["errorMessage"]
    assert "belongs to user 'svc'" in partial["errorMessage"]
    url, as_json = _traces_url(gateway), {**auth, "content-type": "application/json"}
    cases = [
        (httpx.post(url, content=b"{", headers=as_json), 400),
        (httpx.post(url, json={"resourceSpans": 3}, headers=auth), 400),
        (httpx.post(url, content=b"\x0a\xff", headers={**auth, "content-type": PROTOBUF}), 400),
        (httpx.post(url, content=b"x", headers={**auth, "content-type": "text/plain"}), 415),
        (httpx.post(url, json=export), 401),
    ]
    for answer, status in cases:
        assert answer.status_code == status, answer.text
        assert answer.json()["error"]["message"]
    assert gateway.requests() == []
