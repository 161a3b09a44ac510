"""Responses API, tools, fallbacks, and streams that end badly (cut upstream, client gone)."""

from __future__ import annotations

import time
from decimal import Decimal

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from collector.db import Request
from collector.pricing import compute_cost
from collector.tokens import count_completion_tokens
from collector.usage import Usage
from tests.gateway._support import Gateway, GatewayFactory, scenario

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Tell me a story."}]
TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def test_responses_api_non_streaming(gateway: Gateway) -> None:
    response = gateway.client().responses.create(model="gpt-4o-mini", input="Hello there")
    assert response.usage is not None
    row = gateway.only_request()
    assert (row.endpoint, row.outcome, row.stream) == ("/v1/responses", "success", False)
    assert row.prompt_tokens == response.usage.input_tokens
    assert row.completion_tokens == response.usage.output_tokens
    assert row.model_served == response.model and row.cost_source == "computed"


def test_responses_api_streaming_takes_usage_from_completed_event(gateway: Gateway) -> None:
    events = list(
        gateway.client().responses.create(model="o4-mini", input="Think, then answer", stream=True)
    )
    completed = events[-1]
    assert completed.type == "response.completed"
    usage = completed.response.usage
    assert usage is not None
    row = gateway.only_request()
    assert (row.outcome, row.stream, row.cost_source) == ("success", True, "computed")
    assert row.prompt_tokens == usage.input_tokens
    assert row.completion_tokens == usage.output_tokens
    assert row.reasoning_tokens == usage.output_tokens_details.reasoning_tokens > 0
    assert row.ttft_ms is not None


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls(gateway: Gateway, stream: bool) -> None:
    client = gateway.client()
    headers = {"x-mock-tool-call": "get_weather"}
    if stream:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=MESSAGES,
                tools=TOOLS,
                stream=True,
                extra_headers=headers,
            )
        )
        calls = [c for ch in chunks for choice in ch.choices for c in choice.delta.tool_calls or []]
        assert calls and calls[0].function is not None
        assert calls[0].function.name == "get_weather"
    else:
        completion = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            tools=TOOLS,
            extra_headers=headers,
        )
        assert completion.choices[0].message.tool_calls
    row = gateway.only_request()
    assert row.outcome == "success" and row.cost_source == "computed"
    assert row.completion_tokens > 0 and row.prompt_tokens > 0


def test_fallback_to_the_next_model(make_gateway: GatewayFactory) -> None:
    gw = make_gateway(max_attempts=2, fallback_models={"gpt-4o-mini": ["gpt-4o"]})
    completion = gw.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        extra_headers={**scenario(), "x-mock-fault": "503,503,ok"},
    )
    row = gw.only_request()
    assert (row.outcome, row.model_requested) == ("success", "gpt-4o-mini")
    assert row.model_served == completion.model and completion.model.startswith("gpt-4o-2")
    attempts = gw.attempts(row.id)
    assert [(a.model, a.http_status) for a in attempts] == [
        ("gpt-4o-mini", 503),
        ("gpt-4o-mini", 503),
        ("gpt-4o", 200),
    ]
    assert completion.usage is not None
    usage = Usage(completion.usage.prompt_tokens, completion.usage.completion_tokens)
    assert row.cost_usd == compute_cost(usage, completion.model, row.started_at).cost_usd


def test_upstream_cut_mid_stream_is_estimated(gateway: Gateway) -> None:
    stream = gateway.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        extra_headers={**scenario(), "x-mock-fault": "cut@6", "x-mock-output-tokens": "40"},
    )
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received += [c.delta.content or "" for c in chunk.choices]
    assert "interrupted" in caught.value.message
    row = gateway.only_request()
    assert (row.outcome, row.cost_source, row.attempt_count) == ("upstream_error", "estimated", 1)
    assert row.error_type == "upstream_stream_interrupted"
    text = "".join(received)
    assert text and row.completion_tokens == count_completion_tokens(text, "gpt-4o-mini")
    assert row.prompt_tokens > 0 and row.cost_usd is not None and row.cost_usd > Decimal(0)


def test_client_disconnect_mid_stream_is_cancelled(gateway: Gateway) -> None:
    client = gateway.client()
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-mock-tokens-per-s": "40", "x-mock-output-tokens": "400"},
    ) as response:
        request_id = response.headers["x-spendscope-request-id"]
        lines = response.iter_lines()
        got = [next(lines) for _ in range(6)]
    assert any(line.startswith("data: ") for line in got)
    client.close()
    row = _wait_for_row(gateway, request_id)
    assert (row.outcome, row.stream, row.cost_source) == ("cancelled", True, "estimated")
    assert 0 < row.completion_tokens < 400
    (attempt,) = gateway.attempts(row.id)
    assert attempt.http_status == 200 and attempt.error_type == "cancelled"
    assert attempt.completion_tokens == row.completion_tokens


def _wait_for_row(gw: Gateway, request_id: str) -> Request:
    """The client left; the gateway notices on its own schedule (bounded wait, no timing)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = [r for r in gw.requests() if r.id == request_id]
        if rows:
            return rows[0]
        time.sleep(0.05)
    raise AssertionError(f"request {request_id} was never recorded")
