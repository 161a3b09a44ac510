"""What a request "generates": prompt counts, cached tokens, choices and usage objects.

Shared by chat completions, legacy completions and the Responses API so all three count the
same way with the project's tokenizer (``collector.tokens``).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from collector.mock_upstream._http import ApiError, Ctx
from collector.mock_upstream._models import is_reasoning, served_model
from collector.mock_upstream._text import tool_arguments
from collector.tokens import count_chat_prompt_tokens, count_text_tokens

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the mock "decided" to make; ``tokens`` = tokens of name + arguments."""

    id: str
    name: str
    arguments: str
    tokens: int


@dataclass(frozen=True, slots=True)
class Choice:
    """One generated alternative: text pieces (one token each) or a tool call."""

    pieces: list[str]
    finish: str
    reasoning: int
    tool: ToolCall | None = None

    @property
    def visible(self) -> int:
        return self.tool.tokens if self.tool is not None else len(self.pieces)


def request_key(request: web.Request, ctx: Ctx) -> int:
    """A stable per-request number (seed × body) choosing text and lengths deterministically."""
    return zlib.crc32(orjson.dumps(ctx.body, option=orjson.OPT_SORT_KEYS), ctx.state.config.seed)


def resolve_model(body: Mapping[str, Any]) -> tuple[str, str]:
    """(requested, served) model, or OpenAI's 400/404 errors."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "you must provide a model parameter")
    served = served_model(model)
    if served is None:
        raise ApiError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    return model, served


def flatten(content: Any) -> str:
    """Text of a message ``content``: a string, or the ``text`` of each content part."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return ""


def prompt_tokens(messages: Sequence[Any], model: str, tools: Any = None) -> int:
    """Chat prompt tokens; tool calls in history count as their name plus arguments."""
    flat = []
    for message in messages:
        if not isinstance(message, Mapping):
            raise ApiError(
                400,
                "Invalid type for 'messages': expected an array of objects.",
                param="messages",
                code="invalid_type",
            )
        item = {
            "role": str(message.get("role", "user")),
            "content": flatten(message.get("content")),
        }
        if isinstance(message.get("name"), str):
            item["name"] = message["name"]
        for call in message.get("tool_calls") or ():
            function = call.get("function", {}) if isinstance(call, Mapping) else {}
            item["content"] += f"{function.get('name', '')}{function.get('arguments', '')}"
        flat.append(item)
    return count_chat_prompt_tokens(flat, model, tools=tools if isinstance(tools, list) else None)


def cached_tokens(request: web.Request, ctx: Ctx, model: str, prompt: int, material: Any) -> int:
    """``x-mock-cached-tokens`` if given, else the repeated-prompt rule of MockState."""
    forced = request.headers.get("x-mock-cached-tokens")
    if forced is not None:
        return min(prompt, _header_int(forced, "x-mock-cached-tokens"))
    if prompt < 1024:
        return 0
    key = zlib.crc32(orjson.dumps([model, material], option=orjson.OPT_SORT_KEYS))
    return ctx.state.prompt_cache(key, prompt)


def cache_write_tokens(request: web.Request, prompt: int, cached: int) -> int:
    """``x-mock-cache-write-tokens`` (capped at the prompt's uncached part), else 0."""
    forced = request.headers.get("x-mock-cache-write-tokens")
    if forced is None:
        return 0
    return min(prompt - cached, _header_int(forced, "x-mock-cache-write-tokens"))


def output_limit(body: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ApiError(
                    400,
                    f"Invalid '{name}': integer below minimum value.",
                    param=name,
                    code="integer_below_min_value",
                )
            return value
    return None


def plan_choices(
    request: web.Request,
    ctx: Ctx,
    served: str,
    n: int,
    limit: int | None,
    tool: Mapping[str, Any] | None = None,
) -> list[Choice]:
    """Generate ``n`` choices; reasoning and visible tokens share ``limit`` as at OpenAI."""
    key = request_key(request, ctx)
    wanted = _wanted_output(request, ctx, key)
    think = _wanted_reasoning(request, served, key)
    choices = []
    for index in range(n):
        reasoning = think if limit is None else min(think, limit)
        room = None if limit is None else limit - reasoning
        if tool is not None:
            call = _tool_call(ctx, tool, served)
            choices.append(Choice([], "tool_calls", reasoning, call))
            continue
        visible = wanted if room is None else min(wanted, room)
        pieces = ctx.state.bank.take(key + index * 7919, visible)
        choices.append(Choice(pieces, "stop" if visible == wanted else "length", reasoning))
    return choices


def _wanted_output(request: web.Request, ctx: Ctx, key: int) -> int:
    header = request.headers.get("x-mock-output-tokens")
    if header is not None:
        return _header_int(header, "x-mock-output-tokens")
    if ctx.state.config.output_tokens is not None:
        return ctx.state.config.output_tokens
    return 12 + key % 40


def _wanted_reasoning(request: web.Request, served: str, key: int) -> int:
    header = request.headers.get("x-mock-reasoning-tokens")
    if header is not None:
        return _header_int(header, "x-mock-reasoning-tokens")
    return 64 * (1 + (key >> 8) % 4) if is_reasoning(served) else 0


def _header_int(value: str, name: str) -> int:
    if not value.strip().isdigit():
        raise ApiError(400, f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def pick_tool(body: Mapping[str, Any], messages: Sequence[Any], header: str | None) -> Any:
    """The function tool to call, or None. Called when tools are given and: ``tool_choice`` is
    ``"required"`` or names a function, or ``x-mock-tool-call`` is set (a tool name, or any
    other value for the first tool), or the last message is from the user and mentions a tool's
    function name. ``tool_choice: "none"`` and a last message from a tool never call."""
    tools = [t for t in body.get("tools") or () if isinstance(t, Mapping) and "function" in t]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    by_name = {str(t["function"].get("name")): t["function"] for t in tools}
    if isinstance(choice, Mapping):
        return by_name.get(str(choice.get("function", {}).get("name")))
    if header is not None:
        return by_name.get(header, tools[0]["function"])
    last = messages[-1] if messages and isinstance(messages[-1], Mapping) else {}
    if last.get("role") == "user":
        text = flatten(last.get("content"))
        for name, function in by_name.items():
            if name and name in text:
                return function
    return tools[0]["function"] if choice == "required" else None


def _tool_call(ctx: Ctx, function: Mapping[str, Any], served: str) -> ToolCall:
    name = str(function.get("name", "tool"))
    arguments = orjson.dumps(tool_arguments(function.get("parameters"))).decode()
    tokens = count_text_tokens(name, served) + count_text_tokens(arguments, served)
    return ToolCall(ctx.state.object_id("call_"), name, arguments, tokens)


def chat_usage(prompt: int, cached: int, choices: Sequence[Choice], writes: int = 0) -> JsonDict:
    """``CompletionUsage``: completion includes reasoning; prompt includes cached and
    cache-written tokens."""
    reasoning = sum(c.reasoning for c in choices)
    completion = sum(c.visible for c in choices) + reasoning
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {
            "cached_tokens": cached,
            "audio_tokens": 0,
            "cache_write_tokens": writes,
        },
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
