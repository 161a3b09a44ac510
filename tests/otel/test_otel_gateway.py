"""End to end: the SDK drives a real gateway, ``spendscope otel export`` sends the recorded
requests to a real OTLP receiver, and the spans say exactly what the rows say."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from opentelemetry.sdk.trace import TracerProvider

from collector import sdk as spendscope
from collector.db import Request
from collector.otel import span_id_of, trace_id_of
from tests.gateway._support import Gateway, GatewayFactory, scenario
from tests.otel._receiver import ReceivedSpan, Receiver
from tests.otel._run import spendscope as run

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say something short."}]


def _ns(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1_000_000) * 1000


def _traffic(gw: Gateway) -> tuple[str, str, str, str]:
    """A success inside an app span, a success after a 429, an upstream failure; ids back."""
    client = spendscope.spendscope_client(
        openai.OpenAI,
        base_url=gw.base_url,
        api_key=gw.key(project="search"),
        max_retries=0,
        user="alice",
        tags={"team": "search"},
    )
    tracer = TracerProvider().get_tracer("app")
    with tracer.start_as_current_span("handle question"):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        traceparent = spendscope.current_traceparent() or ""
    ok = spendscope.last_call()
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        extra_headers={**scenario(), "x-mock-fault": "429@0.01,ok"},
    )
    retried = spendscope.last_call()
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-mock-fault": "500"}
        )
    failed = spendscope.last_call()
    assert ok and retried and failed and ok.request_id and retried.request_id and failed.request_id
    return ok.request_id, retried.request_id, failed.request_id, traceparent


def _by_request(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {str(s.attributes["spendscope.request_id"]): s for s in spans if s.kind == 2}


def _check_request_span(span: ReceivedSpan, row: Request, project: str) -> None:
    a = span.attributes
    assert span.name == f"chat {row.model_requested}"
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == row.model_requested
    assert a["gen_ai.response.model"] == row.model_served
    assert a["gen_ai.usage.input_tokens"] == row.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == row.completion_tokens
    assert a["http.response.status_code"] == row.http_status
    assert a["spendscope.project"] == project and a["spendscope.outcome"] == row.outcome
    assert a["spendscope.cost_source"] == row.cost_source
    assert a["spendscope.end_user"] == "alice" and a["spendscope.tags.team"] == "search"
    assert a["spendscope.attempt_count"] == row.attempt_count
    if row.cost_usd is None:
        assert "spendscope.cost_usd" not in a
    else:
        assert Decimal(a["spendscope.cost_usd"]) == row.cost_usd
    assert span.start_ns == _ns(row.started_at)
    assert span.end_ns - span.start_ns == pytest.approx(row.duration_ms * 1e6, abs=1000)
    assert span.span_id == f"{span_id_of(row.id):016x}"


def test_exported_spans_match_the_recorded_rows(
    gateway_on: GatewayFactory, receiver: Receiver, tmp_path: Path, mock_base_url: str
) -> None:
    gw = gateway_on()
    ok_id, retried_id, failed_id, traceparent = _traffic(gw)
    rows = {r.id: r for r in gw.requests()}
    url = gw.engine.url.render_as_string(hide_password=False)
    env = {"SPENDSCOPE_UPSTREAM_BASE_URL": mock_base_url}
    done = run(
        "otel", "export", "--endpoint", receiver.url, database_url=url, cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    attempt_spans = sum(len(gw.attempts(i)) for i in rows)
    assert f"3 requests, {3 + attempt_spans} spans" in done.stderr
    assert len(receiver.spans) == 3 + attempt_spans
    spans = _by_request(receiver.spans)
    assert set(spans) == {ok_id, retried_id, failed_id}
    for request_id, span in spans.items():
        _check_request_span(span, rows[request_id], "search")
    # the first request joined the app's trace, under the app's span
    _, trace_id, parent_id, _ = traceparent.split("-")
    assert (spans[ok_id].trace_id, spans[ok_id].parent_span_id) == (trace_id, parent_id)
    # the others start their own trace, whose id is the request's ULID
    assert spans[retried_id].trace_id == f"{trace_id_of(retried_id):032x}"
    assert spans[retried_id].parent_span_id == ""
    # one child span per attempt, under its request span
    children = [s for s in receiver.spans if s.kind == 3]
    for request_id, span in spans.items():
        mine = sorted(
            (s for s in children if s.parent_span_id == span.span_id),
            key=lambda s: int(s.attributes["spendscope.attempt_no"]),
        )
        attempts = gw.attempts(request_id)
        assert [s.attributes["http.response.status_code"] for s in mine] == [
            a.http_status for a in attempts
        ]
        assert all(s.trace_id == span.trace_id for s in mine)
        mock = urlsplit(mock_base_url)  # the upstream it went to, not api.openai.com:443
        assert (span.attributes["server.address"], span.attributes["server.port"]) == (
            mock.hostname,
            mock.port,
        )
        assert all(s.attributes["server.address"] == mock.hostname for s in mine)
        assert all(s.attributes["server.port"] == mock.port for s in mine)
    retried_attempts = [s for s in children if s.parent_span_id == spans[retried_id].span_id]
    retried_attempts.sort(key=lambda s: int(s.attributes["spendscope.attempt_no"]))
    assert [s.status_code for s in retried_attempts] == [2, 0]  # the 429 try is an error
    assert spans[retried_id].status_code == 0
    failed = spans[failed_id]
    assert failed.status_code == 2 and failed.attributes["error.type"] == rows[failed_id].error_type
    assert failed.attributes["spendscope.outcome"] == "upstream_error"
    assert receiver.spans[0].resource["service.name"] == "spendscope"
    # a second run sends nothing new
    again = run("otel", "export", "--endpoint", receiver.url, database_url=url, cwd=tmp_path)
    assert again.returncode == 0 and len(receiver.requests()) == 3
