"""The Responses API, non-streamed and streamed, against OpenAI's event schemas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import orjson

from collector.tokens import count_text_tokens

Validate = Callable[[Any, str], None]


EVENT_SCHEMAS = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
}


def _events(client: openai.OpenAI, **kwargs: object) -> list[dict[str, object]]:
    with client.responses.with_streaming_response.create(stream=True, **kwargs) as resp:  # type: ignore[call-overload]
        lines = list(resp.iter_lines())
    names = [line[7:] for line in lines if line.startswith("event: ")]
    data = [orjson.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert names == [d["type"] for d in data]
    return data


def test_non_stream_response_is_schema_valid(client: openai.OpenAI, openapi: Validate) -> None:
    raw = client.responses.with_raw_response.create(
        model="gpt-4.1", input="Where did the money go?", instructions="Be brief."
    )
    openapi(raw.http_response.json(), "Response")
    response = raw.parse()
    assert response.model == "gpt-4.1-2025-04-14" and response.status == "completed"
    assert response.usage is not None
    assert response.usage.output_tokens == count_text_tokens(response.output_text, "gpt-4.1")
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


def test_stream_events_are_schema_valid_and_text_matches_usage(
    client: openai.OpenAI, openapi: Validate
) -> None:
    events = _events(client, model="gpt-4o-mini", input="hello")
    for event in events:
        openapi(event, EVENT_SCHEMAS[str(event["type"])])
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    text = "".join(str(e["delta"]) for e in events if e["type"] == "response.output_text.delta")
    final = events[-1]["response"]
    assert isinstance(final, dict)
    assert final["usage"]["output_tokens"] == count_text_tokens(text, "gpt-4o-mini") > 0


def test_sdk_stream_helper_gets_final_response(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4o", input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.output_text == "".join(deltas)


def test_reasoning_model_and_max_output_tokens(client: openai.OpenAI, openapi: Validate) -> None:
    raw = client.responses.with_raw_response.create(
        model="gpt-5",
        input="think",
        max_output_tokens=80,
        extra_headers={"x-mock-reasoning-tokens": "64", "x-mock-output-tokens": "40"},
    )
    openapi(raw.http_response.json(), "Response")
    response = raw.parse()
    assert response.model == "gpt-5-2025-08-07"
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens == 64
    assert response.usage.output_tokens == 80
    assert [item.type for item in response.output] == ["reasoning", "message"]


def test_incomplete_stream_ends_with_incomplete_event(
    client: openai.OpenAI, openapi: Validate
) -> None:
    events = _events(
        client,
        model="gpt-4o-mini",
        input="x",
        max_output_tokens=16,
        extra_headers={"x-mock-output-tokens": "40"},
    )
    for event in events:
        openapi(event, EVENT_SCHEMAS[str(event["type"])])
    assert events[-1]["type"] == "response.incomplete"
