"""Built-in tool calls of a response, counted for their per-call fees.

The Responses API lists each tool call as an output item (``web_search_call``,
``file_search_call``, ``code_interpreter_call``, ``image_generation_call``,
``computer_call``). Web search is billed by the tool version the request asked for
(``web_search`` or the older ``web_search_preview``); code interpreter per container
session, not per call (a container created through ``/v1/containers`` is booked there, once).
Chat Completions' search models run one web search a request.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from collector.gateway._intake import Call, Kind
from collector.usage import Usage

_ITEM_FIELDS = {
    "file_search_call": "file_search_calls",
    "image_generation_call": "image_generation_calls",
    "computer_call": "computer_calls",
}


def with_tool_calls(
    call: Call, usage: Usage | None, output: Any, model: str | None
) -> Usage | None:
    """``usage`` with the tool calls of ``output`` (Responses) or of a search model (Chat)."""
    if usage is None:
        return None
    if call.kind is Kind.CHAT:
        return _chat_search(usage, model or call.model or "")
    if call.kind is not Kind.RESPONSES or not isinstance(output, list):
        return usage
    counts = _count(call, [item for item in output if isinstance(item, dict)])
    return replace(usage, **counts) if counts else usage


def _chat_search(usage: Usage, model: str) -> Usage:
    if "search-preview" in model:
        return replace(usage, web_search_preview_calls=1)
    if "search-api" in model:
        return replace(usage, web_search_calls=1)
    return usage


def _count(call: Call, items: list[dict[str, Any]]) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    containers: set[str] = set()
    sessions = 0
    for item in items:
        kind = item.get("type")
        if kind == "web_search_call":
            field = "web_search_preview_calls" if _preview(call) else "web_search_calls"
            counts[field] = counts.get(field, 0) + 1
        elif kind == "code_interpreter_call":
            container = item.get("container_id")
            if isinstance(container, str):
                containers.add(container)
            else:
                sessions += 1
        elif isinstance(kind, str) and kind in _ITEM_FIELDS:
            counts[_ITEM_FIELDS[kind]] = counts.get(_ITEM_FIELDS[kind], 0) + 1
            if kind == "image_generation_call":
                counts.update(_image_variant(call, item))
    containers -= _created(call)
    if containers or sessions:
        counts["code_interpreter_sessions"] = len(containers) + sessions
    return counts


def _tools(call: Call) -> list[dict[str, Any]]:
    tools = (call.body or {}).get("tools")
    return [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []


def _created(call: Call) -> set[str]:
    """Containers the request names by id: created through ``/v1/containers``, whose session
    fee was booked there (counting them again here would bill one session twice)."""
    named = (t.get("container") for t in _tools(call) if t.get("type") == "code_interpreter")
    return {c for c in named if isinstance(c, str)}


def _preview(call: Call) -> bool:
    """The request asked for ``web_search_preview`` (its own rates), not ``web_search``."""
    kinds = [t.get("type") for t in _tools(call)]
    if "web_search" in kinds:
        return False
    return any(isinstance(k, str) and k.startswith("web_search_preview") for k in kinds)


def _image_variant(call: Call, item: dict[str, Any]) -> dict[str, str]:
    """Quality and size of a generated image: from the item, else the request's tool config."""
    config = next((t for t in _tools(call) if t.get("type") == "image_generation"), {})
    found = {}
    for key, field in (("quality", "image_quality"), ("size", "image_size")):
        value = item.get(key, config.get(key))
        if isinstance(value, str) and value != "auto":
            found[field] = value
    return found
