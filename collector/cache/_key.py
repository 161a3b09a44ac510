"""Which requests may be answered from the cache, and the key their answer is kept under.

A request is cacheable when its output is a function of its body: ``temperature`` 0, or a
fixed integer ``seed`` (embeddings always are). Never a stream asking for ``n`` > 1
choices. The key is a SHA-256 of the endpoint and the body with sorted keys, minus the
fields that do not change the answer (``IGNORED_PARAMS``: who asked, how the stream reports
usage, storage and routing hints); every other field — model, messages, tools,
tool_choice, response_format, max_tokens, stop, logit_bias, … — is part of it. The key
starts with the project, so an answer never crosses projects unless ``shared`` says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

# Endpoints answered from the cache, by path (chat and legacy completions may be streamed).
CACHEABLE_PATHS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings"})
# What makes a chat / completions request deterministic enough to cache (docs/engineers.md).
CACHEABLE_PARAMS = ("temperature: 0", "seed: an integer")
# Body fields left out of the key: they change who is billed or how usage is reported,
# never the answer.
IGNORED_PARAMS = frozenset(
    {
        "user",
        "metadata",
        "store",
        "stream_options",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
    }
)
SHARED = "shared"


def uncacheable_reason(path: str, body: Mapping[str, Any] | None) -> str | None:
    """Why the request cannot be cached, or None when it can."""
    if path not in CACHEABLE_PATHS:
        return "endpoint"
    if body is None:
        return "body"
    if path == "/v1/embeddings":
        return None
    n = body.get("n", 1)
    if body.get("stream") is True and n not in (None, 1):
        return "stream with n > 1"
    temperature = body.get("temperature", 1)
    seed = body.get("seed")
    fixed_seed = isinstance(seed, int) and not isinstance(seed, bool)
    if temperature in (0, 0.0) and not isinstance(temperature, bool):
        return None
    return None if fixed_seed else "sampled (temperature not 0 and no seed)"


def cache_key(path: str, body: Mapping[str, Any], project_id: int, *, shared: bool) -> str:
    """The key of a cacheable request's answer: project (or ``shared``), then the digest."""
    kept = {k: v for k, v in body.items() if k not in IGNORED_PARAMS}
    canonical = orjson.dumps([path, kept], option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(canonical).hexdigest()
    return f"{SHARED if shared else project_id}:{digest}"
