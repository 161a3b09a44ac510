"""Chat completions through the official SDK, validated against OpenAI's published schemas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import orjson
import pytest
from openai.types.chat import ChatCompletionMessageParam

from collector.tokens import count_chat_prompt_tokens, count_text_tokens

Validate = Callable[[Any, str], None]
USER: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Summarise last month's spend."}
]


def _stream_lines(client: openai.OpenAI, **kwargs: Any) -> list[str]:
    """Raw SSE ``data:`` payloads of one streamed chat completion, as sent on the wire."""
    with client.chat.completions.with_streaming_response.create(stream=True, **kwargs) as resp:
        return [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]


def test_non_stream_is_schema_valid_and_usage_is_counted(
    client: openai.OpenAI, openapi: Validate
) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
    body = raw.http_response.json()
    openapi(body, "CreateChatCompletionResponse")
    completion = raw.parse()
    assert completion.model == "gpt-4o-mini-2024-07-18"
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens == count_chat_prompt_tokens(USER, "gpt-4o-mini-2024-07-18")
    text = completion.choices[0].message.content or ""
    assert usage.completion_tokens == count_text_tokens(text, "gpt-4o-mini") > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert raw.headers["x-request-id"].startswith("req_")
    for name in ("limit-requests", "remaining-requests", "limit-tokens", "remaining-tokens"):
        assert int(raw.headers[f"x-ratelimit-{name}"]) >= 0
    assert int(raw.headers["openai-processing-ms"]) >= 0


def test_stream_without_include_usage_has_no_usage_chunk(
    client: openai.OpenAI, openapi: Validate
) -> None:
    lines = _stream_lines(client, model="gpt-4o", messages=USER)
    assert lines[-1] == "[DONE]"
    chunks = [orjson.loads(line) for line in lines[:-1]]
    for chunk in chunks:
        openapi(chunk, "CreateChatCompletionStreamResponse")
        assert "usage" not in chunk
        assert len(chunk["choices"]) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert {c["model"] for c in chunks} == {"gpt-4o-2024-08-06"}


def test_stream_with_include_usage_ends_with_usage_only_chunk(
    client: openai.OpenAI, openapi: Validate
) -> None:
    lines = _stream_lines(
        client, model="gpt-4.1", messages=USER, stream_options={"include_usage": True}
    )
    chunks = [orjson.loads(line) for line in lines[:-1]]
    for chunk in chunks:
        openapi(chunk, "CreateChatCompletionStreamResponse")
    *body, last = chunks
    assert all(c["usage"] is None and c["choices"] for c in body)
    assert last["choices"] == []
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in body)
    assert last["usage"]["completion_tokens"] == count_text_tokens(text, "gpt-4.1") > 0
    assert last["usage"]["prompt_tokens"] == count_chat_prompt_tokens(USER, "gpt-4.1")


def test_sdk_stream_text_token_count_equals_reported_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-mock-output-tokens": "300"},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == 300
    assert count_text_tokens(text, "gpt-4o-mini") == 300
    assert count_text_tokens(text, "gpt-4") == 300  # cl100k agrees too


def test_n_choices_are_distinct_and_all_billed(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=USER, n=3)
    texts = [c.message.content or "" for c in completion.choices]
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert len(set(texts)) == 3
    assert completion.usage is not None
    assert completion.usage.completion_tokens == sum(
        count_text_tokens(t, "gpt-4o-mini") for t in texts
    )


def test_n_choices_stream_interleaves_indexes(client: openai.OpenAI) -> None:
    lines = _stream_lines(client, model="gpt-4o-mini", messages=USER, n=2)
    chunks = [orjson.loads(line) for line in lines[:-1]]
    finishes = [c["choices"][0] for c in chunks if c["choices"][0]["finish_reason"]]
    assert sorted(f["index"] for f in finishes) == [0, 1]


def test_max_tokens_limits_output(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=USER,
        max_tokens=5,
        extra_headers={"x-mock-output-tokens": "50"},
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 5


def test_reasoning_model_reports_reasoning_inside_completion(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="o3",
        messages=USER,
        max_completion_tokens=100,
        extra_headers={"x-mock-reasoning-tokens": "64", "x-mock-output-tokens": "80"},
    )
    usage = completion.usage
    assert completion.model == "o3-2025-04-16"
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 64
    assert usage.completion_tokens == 100  # 64 reasoning + 36 visible, capped by the limit
    assert count_text_tokens(completion.choices[0].message.content or "", "o3") == 36
    assert completion.choices[0].finish_reason == "length"


WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
            },
            "required": ["city", "unit"],
        },
    },
}


def test_tool_call_when_user_names_the_tool(client: openai.OpenAI, openapi: Validate) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "Please use get_weather for Oslo"}
    ]
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=messages, tools=[WEATHER_TOOL]
    )
    openapi(raw.http_response.json(), "CreateChatCompletionResponse")
    choice = raw.parse().choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert orjson.loads(call.function.arguments) == {"city": "mock", "unit": "celsius"}


def test_tool_call_streams_arguments_in_pieces(client: openai.OpenAI, openapi: Validate) -> None:
    lines = _stream_lines(
        client,
        model="gpt-4o",
        messages=USER,
        tools=[WEATHER_TOOL],
        extra_headers={"x-mock-tool-call": "get_weather"},
    )
    chunks = [orjson.loads(line) for line in lines[:-1]]
    for chunk in chunks:
        openapi(chunk, "CreateChatCompletionStreamResponse")
    calls = [
        d["tool_calls"][0] for c in chunks if (d := c["choices"][0]["delta"]).get("tool_calls")
    ]
    assert calls[0]["function"]["name"] == "get_weather" and calls[0]["id"].startswith("call_")
    arguments = "".join(c["function"]["arguments"] for c in calls)
    assert orjson.loads(arguments)["unit"] == "celsius"
    assert len(calls) > 2
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_no_tool_call_without_a_reason_or_after_a_tool_result(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(model="gpt-4o", messages=USER, tools=[WEATHER_TOOL])
    assert plain.choices[0].message.tool_calls is None
    history: Any = [
        {"role": "user", "content": "use get_weather"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    after = client.chat.completions.create(model="gpt-4o", messages=history, tools=[WEATHER_TOOL])
    assert after.choices[0].finish_reason == "stop" and after.choices[0].message.content


def test_repeated_long_prompt_reports_cached_tokens(client: openai.OpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": " policy" * 1500 + " unique-cache-test"}
    ]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    second = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert first.usage is not None and second.usage is not None
    assert first.usage.prompt_tokens_details is not None
    assert second.usage.prompt_tokens_details is not None
    prompt = second.usage.prompt_tokens
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached == ((prompt - 1) // 128) * 128 and cached >= 1024


def test_cached_tokens_header_overrides(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=USER, extra_headers={"x-mock-cached-tokens": "4"}
    )
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 4


def test_same_request_same_text(client: openai.OpenAI) -> None:
    one = client.chat.completions.create(model="gpt-4o-mini", messages=USER, temperature=0)
    two = client.chat.completions.create(model="gpt-4o-mini", messages=USER, temperature=0)
    assert one.choices[0].message.content == two.choices[0].message.content
    assert one.id != two.id


@pytest.mark.parametrize(
    ("kwargs", "error", "status"),
    [
        ({"model": "no-such-model", "messages": USER}, openai.NotFoundError, 404),
        ({"model": "gpt-4o", "messages": []}, openai.BadRequestError, 400),
    ],
)
def test_request_errors_are_openai_shaped(
    client: openai.OpenAI, openapi: Validate, kwargs: Any, error: type[Exception], status: int
) -> None:
    with pytest.raises(error) as caught:
        client.chat.completions.create(**kwargs)
    assert isinstance(caught.value, openai.APIStatusError)
    assert caught.value.status_code == status
    openapi(caught.value.response.json(), "ErrorResponse")
