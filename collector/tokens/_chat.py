"""Chat Completions prompt tokens, counted the way the API reports ``prompt_tokens``.

Per message: 3 tokens of framing (``<|start|>{role}<|message|>...<|end|>``) plus the tokens of
its role, content and name, +1 when a name is given; then 3 tokens priming the reply.
Source: OpenAI cookbook "How to count tokens with tiktoken" (openai/openai-cookbook,
examples/How_to_count_tokens_with_tiktoken.ipynb @ c81359cd), whose outputs show the API
agreeing: 129 prompt tokens (gpt-3.5-turbo, gpt-4) and 124 (gpt-4o, gpt-4o-mini).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tiktoken

from collector.tokens._images import UNKNOWN_IMAGE_SIZE, image_size_from_data_url, image_tokens
from collector.tokens._models import base_model
from collector.tokens._tools import (
    FUNCTIONS_OVERHEAD,
    SYSTEM_REUSE_DISCOUNT,
    function_definitions,
    render_functions,
)

__all__ = ["CHAT_ROLES", "ChatFormat", "chat_format", "count_chat_tokens"]

CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_INSTRUCTION_ROLES = ("system", "developer")


@dataclass(frozen=True, slots=True)
class ChatFormat:
    """Framing costs of one model family's chat template."""

    per_message: int = 3
    per_name: int = 1
    reply_priming: int = 3


def chat_format(model: str) -> ChatFormat:
    """The framing of ``model``'s family."""
    name = base_model(model)
    if name.startswith("gpt-3.5-turbo-0301"):
        # Cookbook (older revision, @ 06d9feb5): 4 per message, name replaces the role: 127.
        return ChatFormat(per_message=4, per_name=-1)
    if name[:2] in ("o1", "o3", "o4"):
        # Inferred, not documented: two community measurements of o3/o4-mini prompts come
        # out one token under the gpt-4o formula (community.openai.com/t/1262691, /t/1271170).
        return ChatFormat(reply_priming=2)
    return ChatFormat()


def _encode_len(encoding: tiktoken.Encoding, text: str) -> int:
    """Token count of text, treating special-token strings as plain text (as the API does)."""
    return len(encoding.encode(text, disallowed_special=()))


def _image_part_tokens(part: Mapping[str, Any], model: str) -> int:
    """An ``image_url`` part: size from a data URL, else the documented unknown-size default."""
    image = part.get("image_url")
    url, detail = (image, "auto") if isinstance(image, str) else ("", "auto")
    if isinstance(image, Mapping):
        url, detail = str(image.get("url", "")), str(image.get("detail") or "auto")
    size = image_size_from_data_url(url) or UNKNOWN_IMAGE_SIZE
    return image_tokens(size[0], size[1], detail, model)


def content_tokens(content: Any, encoding: tiktoken.Encoding, model: str) -> int:
    """A message's content: a string, or a list of text / image / refusal parts."""
    if isinstance(content, str):
        return _encode_len(encoding, content)
    if not isinstance(content, Sequence):
        return 0
    total = 0
    for part in content:
        if isinstance(part, str):
            total += _encode_len(encoding, part)
        elif isinstance(part, Mapping):
            kind = part.get("type")
            if kind in ("image_url", "input_image"):
                total += _image_part_tokens(part, model)
            else:
                text = part.get("text", part.get("refusal"))
                # Audio and file parts are billed by OpenAI's own decoding; not counted here.
                total += _encode_len(encoding, text) if isinstance(text, str) else 0
    return total


def _calls_tokens(message: Mapping[str, Any], encoding: tiktoken.Encoding) -> int:
    """Assistant tool calls: name + arguments + 3 each (legacy function_call rule, hmarr)."""
    calls = [c.get("function") for c in message.get("tool_calls") or () if isinstance(c, Mapping)]
    legacy = message.get("function_call")
    calls.append(legacy if isinstance(legacy, Mapping) else None)
    total = 0
    for call in calls:
        if isinstance(call, Mapping):
            total += 3 + _encode_len(encoding, str(call.get("name", "")))
            total += _encode_len(encoding, str(call.get("arguments", "")))
    return total


def message_tokens(
    message: Mapping[str, Any], encoding: tiktoken.Encoding, model: str, fmt: ChatFormat
) -> int:
    """One message: framing, role, content, name and any tool calls it carries."""
    role = str(message.get("role", ""))
    total = fmt.per_message + _encode_len(encoding, role)
    total += content_tokens(message.get("content"), encoding, model)
    name = message.get("name")
    if isinstance(name, str) and name:
        total += _encode_len(encoding, name) + fmt.per_name
    if role == "function":
        total -= 2  # hmarr/openai-chat-tokens, API-verified function-result cases
    return total + _calls_tokens(message, encoding)


def _tool_choice_tokens(tool_choice: Any, encoding: tiktoken.Encoding) -> int:
    """Forcing a tool costs its name + 4; "none" costs 1 (hmarr, for legacy function_call)."""
    if tool_choice == "none":
        return 1
    if isinstance(tool_choice, Mapping):
        inner = tool_choice.get("function", tool_choice)
        name = inner.get("name") if isinstance(inner, Mapping) else None
        return _encode_len(encoding, name) + 4 if isinstance(name, str) else 0
    return 0


def count_chat_tokens(
    messages: Sequence[Mapping[str, Any]],
    encoding: tiktoken.Encoding,
    model: str,
    tools: Sequence[Mapping[str, Any]] | None,
    tool_choice: Any = None,
) -> int:
    """Whole prompt: messages, reply priming, and tool definitions when tools are given."""
    fmt = chat_format(model)
    functions = function_definitions(tools) if tools else []
    total = fmt.reply_priming
    padded = False
    for message in messages:
        if functions and not padded and message.get("role") in _INSTRUCTION_ROLES:
            content = message.get("content")
            if isinstance(content, str):
                message = {**message, "content": content + "\n"}
            padded = True
        total += message_tokens(message, encoding, model, fmt)
    if functions:
        total += _encode_len(encoding, render_functions(functions)) + FUNCTIONS_OVERHEAD
        total += _tool_choice_tokens(tool_choice, encoding)
        if padded:
            total -= SYSTEM_REUSE_DISCOUNT
    return total
