"""Our own token counts, for when upstream's usage is missing (and for admission policies).

Counting must never break a request: a body the tokenizer cannot read counts as 0 and is
logged, since these numbers are estimates by definition (cost_source ``estimated``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from collector.gateway._intake import Call, Kind
from collector.tokens import (
    chat_prompt_bound,
    count_chat_prompt_tokens,
    count_completion_tokens,
    count_embedding_input_tokens,
    count_responses_input_tokens,
    count_text_tokens,
    flat_prompt_bound,
    responses_prompt_bound,
)

log = logging.getLogger(__name__)


def estimate_prompt(call: Call) -> int:
    """Prompt tokens of a request as the API would count them (0 when not countable)."""
    body, model = call.body, call.model
    if body is None or model is None:
        return 0
    try:
        return _count(call.kind, body, model)
    except Exception as exc:
        log.debug("gateway: cannot count prompt tokens (%s): %s", call.kind, exc)
        return 0


def bound_prompt(call: Call) -> int | None:
    """At least the prompt tokens ``estimate_prompt`` would count, from the body's size and
    shape without a tokenizer; None when no such bound is known (images, other endpoints)."""
    body = call.body
    if body is None or call.model is None:
        return None
    size = len(call.raw)
    if call.kind is Kind.CHAT:
        return chat_prompt_bound(size, body.get("messages"), body.get("tools"))
    if call.kind is Kind.RESPONSES:
        return responses_prompt_bound(size, body.get("input") or "", body.get("tools"))
    if call.kind in (Kind.EMBEDDINGS, Kind.COMPLETIONS):
        return flat_prompt_bound(size)
    return None


def _count(kind: Kind, body: Mapping[str, Any], model: str) -> int:
    if kind is Kind.CHAT:
        tool_choice = body.get("tool_choice")
        return count_chat_prompt_tokens(
            body["messages"],
            model,
            body.get("tools"),
            tool_choice=tool_choice if isinstance(tool_choice, str | dict) else None,
        )
    if kind is Kind.RESPONSES:
        instructions = body.get("instructions")
        return count_responses_input_tokens(
            body.get("input") or "",
            instructions if isinstance(instructions, str) else None,
            model,
            body.get("tools"),
        )
    if kind is Kind.EMBEDDINGS:
        return count_embedding_input_tokens(body["input"], model)
    if kind is Kind.COMPLETIONS:
        prompt = body.get("prompt")
        if isinstance(prompt, list):
            prompt = "".join(p for p in prompt if isinstance(p, str))
        return count_text_tokens(prompt, model) if isinstance(prompt, str) else 0
    return 0


def estimate_completion(
    text: Sequence[str], tool_calls: Sequence[Mapping[str, Any]], model: str
) -> int:
    """Completion tokens of what was streamed (text and tool-call arguments)."""
    try:
        return count_completion_tokens("".join(text), model, tool_calls or None)
    except Exception as exc:
        log.debug("gateway: cannot count completion tokens: %s", exc)
        return 0
