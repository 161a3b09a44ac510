"""The "anthropic-compatible" mode: chat completions as Anthropic's OpenAI SDK compatibility
layer (https://api.anthropic.com/v1/) answers them, so a fallback to Claude is tested end to end.

What differs from OpenAI, per Anthropic's "OpenAI SDK compatibility" page
(https://docs.anthropic.com/en/api/openai-sdk, read 2026-12-06): only Claude model ids are
served (others get a 404 ``not_found_error``); ``usage`` carries ``prompt_tokens``,
``completion_tokens`` and ``total_tokens`` while ``prompt_tokens_details`` and
``completion_tokens_details`` are always empty (prompt caching is not supported there, so no
cached or cache-written tokens are reported); ``system_fingerprint`` and ``service_tier`` are
not set. A dated alias is answered with its snapshot id, as Anthropic's API reports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.mock_upstream._generate import JsonDict
from collector.mock_upstream._http import ApiError

PROVIDER = "anthropic"
_SNAPSHOTS = {
    "claude-opus-4-0": "claude-opus-4-20250514",
    "claude-sonnet-4-0": "claude-sonnet-4-20250514",
    "claude-opus-4-1": "claude-opus-4-1-20250805",
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-opus-4-5": "claude-opus-4-5-20251101",
    "claude-opus-4-6": "claude-opus-4-6-20260205",
    "claude-opus-4-7": "claude-opus-4-7-20260416",
}
_HEAD_ONLY_OPENAI = ("system_fingerprint", "service_tier")


def claude_model(body: Mapping[str, Any]) -> str:
    """The Claude model that serves the request, or Anthropic's 404 for any other id."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "model: Field required", param="model")
    if not model.startswith("claude-"):
        raise ApiError(404, f"model: {model}", code="not_found_error")
    return _SNAPSHOTS.get(model, model)


def compat_usage(usage: JsonDict) -> JsonDict:
    """The usage object without OpenAI's details (always empty on Anthropic's layer)."""
    keep = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {name: usage[name] for name in keep}


def compat_head(head: JsonDict) -> JsonDict:
    """A completion's top-level fields without the ones Anthropic's layer does not set."""
    return {k: v for k, v in head.items() if k not in _HEAD_ONLY_OPENAI}
