"""An upper bound of a prompt's tokens without a tokenizer, from the request's JSON size.

Every BPE token of tiktoken's encodings is at least one byte of UTF-8, and a JSON string
takes at least as many bytes as its UTF-8 text, so the tokens of the text in a request body
never exceed the body's length. The counting rules (``_chat``, ``_inputs``) add framing
per message, per name and per tool call, which the JSON punctuation around each of them
outweighs; ``_MESSAGE_SLACK`` per message and ``_SLACK`` per request cover the rest (reply
priming, the odd message without a role). Two things can count for more than their bytes:
image parts (a short URL stands for hundreds of tokens), which have no bound here, and tool
definitions, which are rendered as TypeScript first and are bounded by that rendering.

Admission holds a hard budget's worst case on this bound instead of loading an encoding
(tens of MB per process) for every request; ``tests/tokens/test_bound.py`` checks the bound
against the exact counters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from collector.tokens._tools import FUNCTIONS_OVERHEAD, function_definitions, render_functions

__all__ = ["chat_prompt_bound", "flat_prompt_bound", "responses_prompt_bound"]

_SLACK = 16
_MESSAGE_SLACK = 4
_IMAGE_PARTS = frozenset({"image_url", "input_image"})


def flat_prompt_bound(body_bytes: int) -> int:
    """Embeddings and legacy completions: their input's tokens (no framing)."""
    return body_bytes + _SLACK


def chat_prompt_bound(body_bytes: int, messages: object, tools: object) -> int | None:
    """A Chat Completions prompt's bound, or None when the messages carry images."""
    if not isinstance(messages, Sequence) or isinstance(messages, str):
        return None
    for message in messages:
        if isinstance(message, Mapping) and not _text_only(message.get("content")):
            return None
    return _with_tools(body_bytes + _MESSAGE_SLACK * len(messages) + _SLACK, tools)


def responses_prompt_bound(body_bytes: int, input_: object, tools: object) -> int | None:
    """A Responses request's bound (its items are counted as chat messages), or None."""
    if isinstance(input_, str):
        items: Sequence[Any] = ()
    elif isinstance(input_, Sequence):
        items = input_
    else:
        return None
    for item in items:
        if isinstance(item, Mapping) and not _text_only(item.get("content")):
            return None
    return _with_tools(body_bytes + _MESSAGE_SLACK * (len(items) + 2) + _SLACK, tools)


def _text_only(content: object) -> bool:
    """Whether a message's content has no image part (text of any other part counts as text)."""
    if not isinstance(content, Sequence) or isinstance(content, str):
        return True
    return not any(isinstance(p, Mapping) and p.get("type") in _IMAGE_PARTS for p in content)


def _with_tools(bound: int, tools: object) -> int | None:
    """Add the rendered tool definitions (each UTF-8 byte at most one token), or None when
    the definitions are not a list of objects."""
    if tools is None:
        return bound
    if not isinstance(tools, Sequence) or isinstance(tools, str):
        return None
    if not all(isinstance(tool, Mapping) for tool in tools):
        return None
    rendered = render_functions(function_definitions(tools))
    # the tool choice names one of these tools: its tokens are in the body's bytes
    return bound + len(rendered.encode()) + FUNCTIONS_OVERHEAD + _SLACK
