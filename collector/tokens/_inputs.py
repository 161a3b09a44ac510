"""Completion, Responses-API and embeddings token counts built on the chat rules.

Completions: when a stream ends without a usage chunk we count what was streamed.
Responses: OpenAI publishes no counting rules for it; we map its input items onto chat
messages and count those, so the result is an estimate (documented as such).
Embeddings: usage is exactly the input's tokens, with no framing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import tiktoken

from collector.tokens._chat import count_chat_tokens

__all__ = ["completion_tokens", "embedding_tokens", "responses_input_tokens"]


def completion_tokens(
    text: str, encoding: tiktoken.Encoding, tool_calls: Sequence[Mapping[str, Any]] | None
) -> int:
    """Streamed text tokens, plus each tool call's name, arguments and 3 tokens of framing."""
    total = len(encoding.encode(text, disallowed_special=()))
    for call in tool_calls or ():
        function = call.get("function", call)
        if isinstance(function, Mapping):
            for key in ("name", "arguments"):
                value = function.get(key)
                total += len(encoding.encode(value, disallowed_special=())) if value else 0
            total += 3
    return total


def _responses_item(item: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """One Responses input item as a chat message (None for items that are not prompt text)."""
    kind = item.get("type", "message")
    if kind == "message" or "role" in item:
        return {"role": item.get("role", "user"), "content": item.get("content", "")}
    if kind == "function_call":
        call = {"name": item.get("name", ""), "arguments": item.get("arguments", "")}
        return {"role": "assistant", "tool_calls": [{"type": "function", "function": call}]}
    if kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output", "")
        return {"role": "tool", "content": output if isinstance(output, str | list) else ""}
    return None  # reasoning items, item references: their cost is not knowable here


def responses_input_tokens(
    input_: str | Sequence[Mapping[str, Any]],
    instructions: str | None,
    encoding: tiktoken.Encoding,
    model: str,
    tools: Sequence[Mapping[str, Any]] | None,
) -> int:
    """Estimate: instructions as a developer message, then input items as chat messages."""
    messages: list[Mapping[str, Any]] = []
    if instructions:
        messages.append({"role": "developer", "content": instructions})
    if isinstance(input_, str):
        messages.append({"role": "user", "content": input_})
    else:
        for item in input_:
            message = _responses_item(item)
            if message is not None:
                messages.append(message)
    return count_chat_tokens(messages, encoding, model, tools)


def embedding_tokens(
    input_: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]],
    encoding: tiktoken.Encoding,
) -> int:
    """A string, list of strings, token array or list of token arrays; arrays count as is."""
    if isinstance(input_, str):
        return len(encoding.encode(input_, disallowed_special=()))
    total = 0
    for element in input_:
        if isinstance(element, str):
            total += len(encoding.encode(element, disallowed_special=()))
        elif isinstance(element, int):
            total += 1
        else:
            total += len(element)
    return total
