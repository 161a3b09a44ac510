"""``POST /v1/chat/completions`` and the legacy ``POST /v1/completions``, streamed or not.

Stream chunks follow OpenAI's order: a role chunk per choice, one token per content chunk,
a finish chunk per choice, then (only with ``stream_options.include_usage``) a usage-only chunk
with ``choices: []``; every other chunk then carries ``usage: null``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from collector.mock_upstream._anthropic import PROVIDER, claude_model, compat_head, compat_usage
from collector.mock_upstream._generate import (
    Choice,
    JsonDict,
    cache_write_tokens,
    cached_tokens,
    chat_usage,
    output_limit,
    pick_tool,
    plan_choices,
    prompt_tokens,
    resolve_model,
)
from collector.mock_upstream._http import ApiError, bill, ctx_of, json_response, send_events
from collector.mock_upstream._models import fingerprint
from collector.mock_upstream._tool_items import search_fee
from collector.tokens import count_text_tokens

_TOOL_ARG_PIECE = 8


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """Chat completion with usage counted by the project's tokenizer."""
    ctx = ctx_of(request)
    body = ctx.body
    anthropic = ctx.state.config.provider == PROVIDER
    served = claude_model(body) if anthropic else resolve_model(body)[1]
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(
            400,
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    prompt = prompt_tokens(messages, served, body.get("tools"))
    cached = (
        0
        if anthropic
        else cached_tokens(request, ctx, served, prompt, [messages, body.get("tools")])
    )
    tool = pick_tool(body, messages, request.headers.get("x-mock-tool-call"))
    limit = output_limit(body, "max_completion_tokens", "max_tokens")
    choices = plan_choices(request, ctx, served, _n(body), limit, tool)
    writes = 0 if anthropic else cache_write_tokens(request, prompt, cached)
    usage = chat_usage(prompt, cached, choices, writes)
    head = {
        "id": ctx.state.object_id("chatcmpl-"),
        "created": int(time.time()),
        "model": served,
        "service_tier": "default",
        "system_fingerprint": fingerprint(served),
    }
    if anthropic:
        usage, head = compat_usage(usage), compat_head(head)
    bill(request, "chat", served, usage, search_fee(served))
    if body.get("stream") is True:
        include = _include_usage(body)
        events = _chat_events(head, choices, usage if include else None)
        return await send_events(request, events, usage["total_tokens"])
    payload = {"id": head["id"], "object": "chat.completion", **head}
    payload["choices"] = [_message_choice(i, c) for i, c in enumerate(choices)]
    payload["usage"] = usage
    return json_response(request, payload, usage["total_tokens"])


def _n(body: Mapping[str, Any]) -> int:
    n = body.get("n", 1)
    if n is None:
        return 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128:
        raise ApiError(400, "Invalid 'n': must be an integer between 1 and 128.", param="n")
    return n


def _include_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


def _message_choice(index: int, choice: Choice) -> JsonDict:
    message: JsonDict = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
    if choice.tool is not None:
        call = choice.tool
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
        ]
    else:
        message["content"] = "".join(choice.pieces)
    return {"index": index, "message": message, "logprobs": None, "finish_reason": choice.finish}


def _chat_events(
    head: JsonDict, choices: list[Choice], usage: JsonDict | None
) -> list[tuple[bytes, bool]]:
    """All SSE events of one chat stream; token chunks are marked for pacing."""
    base = {"id": head["id"], "object": "chat.completion.chunk", **head}
    if usage is not None:
        base["usage"] = None

    def chunk(index: int, delta: JsonDict, finish: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n"

    events = [(chunk(i, _first_delta(c)), False) for i, c in enumerate(choices)]
    deltas = [_deltas(c) for c in choices]
    for step in range(max((len(d) for d in deltas), default=0)):
        for index, steps in enumerate(deltas):
            if step < len(steps):
                events.append((chunk(index, steps[step]), True))
    events.extend((chunk(i, {}, c.finish), False) for i, c in enumerate(choices))
    if usage is not None:
        final = {**base, "choices": [], "usage": usage}
        events.append((b"data: " + orjson.dumps(final) + b"\n\n", False))
    return events


def _first_delta(choice: Choice) -> JsonDict:
    if choice.tool is None:
        return {"role": "assistant", "content": "", "refusal": None}
    call = {
        "index": 0,
        "id": choice.tool.id,
        "type": "function",
        "function": {"name": choice.tool.name, "arguments": ""},
    }
    return {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}


def _deltas(choice: Choice) -> list[JsonDict]:
    if choice.tool is None:
        return [{"content": piece} for piece in choice.pieces]
    args = choice.tool.arguments
    return [
        {"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + _TOOL_ARG_PIECE]}}]}
        for i in range(0, len(args), _TOOL_ARG_PIECE)
    ]


async def completions(request: web.Request) -> web.StreamResponse:
    """Legacy text completion (``gpt-3.5-turbo-instruct``); ``prompt`` is a string or list."""
    ctx = ctx_of(request)
    body = ctx.body
    _, served = resolve_model(body)
    prompts = _prompts(body.get("prompt"))
    prompt = sum(count_text_tokens(p, served) for p in prompts)
    limit = output_limit(body, "max_tokens")
    choices = plan_choices(
        request, ctx, served, _n(body) * len(prompts), 16 if limit is None else limit
    )
    usage = chat_usage(prompt, 0, choices)
    del usage["prompt_tokens_details"], usage["completion_tokens_details"]
    head = {
        "id": ctx.state.object_id("cmpl-"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": served,
    }
    bill(request, "completions", served, usage)
    if body.get("stream") is True:
        events = _completion_events(head, choices, usage if _include_usage(body) else None)
        return await send_events(request, events, usage["total_tokens"])
    rows = [_text_choice(i, "".join(c.pieces), c.finish) for i, c in enumerate(choices)]
    return json_response(request, {**head, "choices": rows, "usage": usage}, usage["total_tokens"])


def _prompts(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(p, str) for p in raw):
        return list(raw)
    raise ApiError(
        400,
        "Missing required parameter: 'prompt'.",
        param="prompt",
        code="missing_required_parameter",
    )


def _text_choice(index: int, text: str, finish: str | None) -> JsonDict:
    return {"text": text, "index": index, "logprobs": None, "finish_reason": finish}


def _completion_events(
    head: JsonDict, choices: list[Choice], usage: JsonDict | None
) -> list[tuple[bytes, bool]]:
    def event(payload: JsonDict) -> bytes:
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    events = []
    for index, choice in enumerate(choices):
        for piece in choice.pieces:
            events.append((event({**head, "choices": [_text_choice(index, piece, None)]}), True))
        events.append((event({**head, "choices": [_text_choice(index, "", choice.finish)]}), False))
    if usage is not None:
        events.append((event({**head, "choices": [], "usage": usage}), False))
    return events
