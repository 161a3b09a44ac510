"""``POST /v1/responses``: the Responses API object and its streaming event sequence.

Stream order (as OpenAI sends it): response.created, response.in_progress, for reasoning
models a reasoning item and for built-in tools their call items (output_item.added/done),
then output_item.added, content_part.added,
one output_text.delta per token, output_text.done, content_part.done, output_item.done and
response.completed (or response.incomplete when ``max_output_tokens`` cut the text).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from collector.mock_upstream._background import keep_streamed, start, streamed
from collector.mock_upstream._generate import (
    Choice,
    JsonDict,
    cache_write_tokens,
    cached_tokens,
    flatten,
    output_limit,
    plan_choices,
    prompt_tokens,
    resolve_model,
)
from collector.mock_upstream._http import (
    ApiError,
    Ctx,
    bill,
    ctx_of,
    json_response,
    send_events,
)
from collector.mock_upstream._models import is_reasoning
from collector.mock_upstream._tool_items import tool_fees, tool_items


async def responses(request: web.Request) -> web.StreamResponse:
    """Create a response; usage counts instructions + input like a chat prompt."""
    ctx = ctx_of(request)
    body = ctx.body
    _, served = resolve_model(body)
    messages = _input_messages(body)
    prompt = prompt_tokens(messages, served)
    cached = cached_tokens(request, ctx, served, prompt, messages)
    limit = output_limit(body, "max_output_tokens")
    choice = plan_choices(request, ctx, served, 1, limit)[0]
    writes = cache_write_tokens(request, prompt, cached)
    obj = _response_object(ctx, body, served, choice, _usage(prompt, cached, choice, writes))
    calls = tool_items(request, ctx.state, body)
    obj["output"][-1:-1] = calls
    fees = tool_fees(body, calls)
    if body.get("background") is True and body.get("stream") is not True:
        return start(request, ctx, obj, fees)  # billed when it ends
    bill(request, "responses", served, obj["usage"], fees)
    if body.get("stream") is not True:
        return json_response(request, obj, obj["usage"]["total_tokens"])
    events = _events(obj, choice)
    if body.get("background") is not True:
        return await send_events(request, events, obj["usage"]["total_tokens"], done=False)
    keep_streamed(request, obj, events)
    try:
        return await send_events(request, events, obj["usage"]["total_tokens"], done=False)
    finally:
        streamed(request, obj["id"])


def _input_messages(body: Mapping[str, Any]) -> list[JsonDict]:
    """``instructions`` + ``input`` as chat messages, for counting with the chat tokenizer."""
    raw = body.get("input")
    messages: list[JsonDict] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "developer", "content": body["instructions"]})
    if isinstance(raw, str):
        messages.append({"role": "user", "content": raw})
    elif isinstance(raw, list):
        for item in raw:
            if not isinstance(item, Mapping):
                raise ApiError(400, "Invalid type for 'input'.", param="input")
            content = item.get("content", item.get("output", item.get("arguments", "")))
            messages.append({"role": str(item.get("role", "user")), "content": flatten(content)})
    else:
        raise ApiError(
            400,
            "Missing required parameter: 'input'.",
            param="input",
            code="missing_required_parameter",
        )
    return messages


def _usage(prompt: int, cached: int, choice: Choice, writes: int) -> JsonDict:
    output = choice.visible + choice.reasoning
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": writes},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": choice.reasoning},
        "total_tokens": prompt + output,
    }


# Request settings the mock does not act on, echoed with OpenAI's defaults.
_ECHOED_DEFAULTS: JsonDict = {
    "parallel_tool_calls": True,
    "service_tier": "default",
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "tool_choice": "auto",
    "tools": [],
    "truncation": "disabled",
}


def _response_object(
    ctx: Ctx, body: Mapping[str, Any], served: str, choice: Choice, usage: JsonDict
) -> JsonDict:
    now = int(time.time())
    complete = choice.finish == "stop"
    message = {
        "id": ctx.state.object_id("msg_"),
        "type": "message",
        "status": "completed" if complete else "incomplete",
        "role": "assistant",
        "content": [_text_part("".join(choice.pieces))],
    }
    output: list[JsonDict] = [message]
    if is_reasoning(served):
        output.insert(0, {"id": ctx.state.object_id("rs_"), "type": "reasoning", "summary": []})
    return {
        "id": ctx.state.object_id("resp_"),
        "object": "response",
        "created_at": now,
        "status": "completed" if complete else "incomplete",
        "completed_at": now if complete else None,
        "error": None,
        "incomplete_details": None if complete else {"reason": "max_output_tokens"},
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": served,
        "output": output,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": "medium" if is_reasoning(served) else None, "summary": None},
        "store": body.get("store", True) is not False,
        "temperature": body.get("temperature", 1.0),
        "top_p": body.get("top_p", 1.0),
        "usage": usage,
        "metadata": body.get("metadata") or {},
        **_ECHOED_DEFAULTS,
    }


def _text_part(text: str) -> JsonDict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _events(obj: JsonDict, choice: Choice) -> list[tuple[bytes, bool]]:
    """The full event sequence; ``sequence_number`` counts from 0 across the stream."""
    events: list[tuple[bytes, bool]] = []

    def emit(kind: str, paced: bool = False, **fields: Any) -> None:
        data = orjson.dumps({"type": kind, "sequence_number": len(events), **fields})
        events.append((b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n", paced))

    pending = {
        **obj,
        "status": "in_progress",
        "completed_at": None,
        "output": [],
        "incomplete_details": None,
    }
    del pending["usage"]
    emit("response.created", response=pending)
    emit("response.in_progress", response=pending)
    for index, item in enumerate(obj["output"]):
        if item["type"] != "message":
            emit("response.output_item.added", output_index=index, item=item)
            emit("response.output_item.done", output_index=index, item=item)
            continue
        _message_events(emit, index, item, choice)
    final = "response.completed" if obj["status"] == "completed" else "response.incomplete"
    emit(final, response=obj)
    return events


def _message_events(emit: Any, index: int, item: JsonDict, choice: Choice) -> None:
    where = {"item_id": item["id"], "output_index": index, "content_index": 0}
    emit(
        "response.output_item.added",
        output_index=index,
        item={**item, "status": "in_progress", "content": []},
    )
    emit("response.content_part.added", **where, part=_text_part(""))
    for piece in choice.pieces:
        emit("response.output_text.delta", True, **where, delta=piece, logprobs=[])
    text = "".join(choice.pieces)
    emit("response.output_text.done", **where, text=text, logprobs=[])
    emit("response.content_part.done", **where, part=_text_part(text))
    emit("response.output_item.done", output_index=index, item=item)
