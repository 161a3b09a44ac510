"""Built-in tool calls in a mock Responses answer: one output item per call, OpenAI-shaped.

A request whose ``tools`` name a built-in tool gets that tool's call items before the
message (``x-mock-tool-calls: N`` calls of each, default 1). Code interpreter calls share
one container, as OpenAI's do within a response; image generation returns a 1x1 PNG.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from collector.mock_upstream._generate import JsonDict
from collector.mock_upstream._media import PNG_B64
from collector.mock_upstream._state import MockState

_ID_PREFIXES = {
    "web_search": "ws_",
    "file_search": "fs_",
    "code_interpreter": "ci_",
    "image_generation": "ig_",
    "computer_use_preview": "cu_",
}


def tool_items(request: web.Request, state: MockState, body: Mapping[str, Any]) -> list[JsonDict]:
    """The tool call items the request's built-in tools produce."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    kinds = {_kind(t.get("type")) for t in tools if isinstance(t, Mapping)} - {None}
    if not kinds:
        return []
    calls = max(0, min(16, int(request.headers.get("x-mock-tool-calls", "1"))))
    named = [t.get("container") for t in tools if isinstance(t, Mapping)]
    # A container the request names by id (made with /v1/containers) is the one that runs.
    container = next((c for c in named if isinstance(c, str)), None) or state.object_id("cntr_")
    items = []
    for kind in sorted(k for k in kinds if k is not None):
        for _ in range(calls):
            item = {"id": state.object_id(_ID_PREFIXES[kind]), **_item(kind, container, state)}
            items.append(item)
    return items


def tool_fees(body: Mapping[str, Any], items: list[JsonDict]) -> dict[str, Any]:
    """What OpenAI bills per call for ``items`` (usage fields): web search by the tool version
    asked for, code interpreter per container session (one named by id was billed when
    ``/v1/containers`` made it), image generation at the tool's quality and size."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
    kinds = [t.get("type") for t in tools]
    preview = "web_search" not in kinds and any(
        isinstance(k, str) and k.startswith("web_search_preview") for k in kinds
    )
    named = [t.get("container") for t in tools if t.get("type") == "code_interpreter"]
    fees: dict[str, Any] = {}
    containers: set[str] = set()
    for item in items:
        kind = item["type"]
        if kind == "code_interpreter_call":
            containers.add(str(item["container_id"]))
            continue
        if kind == "web_search_call":
            field = "web_search_preview_calls" if preview else "web_search_calls"
        else:
            field = kind.removesuffix("_call") + "_calls"
        fees[field] = fees.get(field, 0) + 1
    sessions = [c for c in containers if c not in named]  # by id; {"type": "auto"} is new
    if sessions:
        fees["code_interpreter_sessions"] = len(sessions)
    if "image_generation_calls" in fees:
        config = next((t for t in tools if t.get("type") == "image_generation"), {})
        for key in ("quality", "size"):
            if isinstance(config.get(key), str) and config[key] != "auto":
                fees[f"image_{key}"] = config[key]
    return fees


def search_fee(model: str) -> dict[str, Any]:
    """Chat Completions' search models run one web search a request, billed per call."""
    if "search-preview" in model:
        return {"web_search_preview_calls": 1}
    if "search-api" in model:
        return {"web_search_calls": 1}
    return {}


def _kind(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if value.startswith("web_search"):
        return "web_search"
    return value if value in _ID_PREFIXES else None


def _item(kind: str, container: str, state: MockState) -> JsonDict:
    if kind == "web_search":
        action = {"type": "search", "query": "spendscope"}
        return {"type": "web_search_call", "status": "completed", "action": action}
    if kind == "file_search":
        return {"type": "file_search_call", "status": "completed", "queries": ["spendscope"]}
    if kind == "code_interpreter":
        return {
            "type": "code_interpreter_call",
            "status": "completed",
            "container_id": container,
            "code": "print(6 * 7)",
            "outputs": [{"type": "logs", "logs": "42\n"}],
        }
    if kind == "image_generation":
        return {"type": "image_generation_call", "status": "completed", "result": PNG_B64}
    return {
        "type": "computer_call",
        "status": "completed",
        "call_id": state.object_id("call_"),
        "action": {"type": "screenshot"},
        "pending_safety_checks": [],
    }
