"""Which client paths may reach the upstream: ``/v1/`` plus a documented OpenAI resource.

The upstream request carries the server's own key, so a path that could leave ``/v1/`` once
decoded or normalised (``..``, ``.``, ``%2e%2e``, ``%2f``, backslashes, double slashes) is
refused with a 404 before anything is forwarded. Any percent-encoding is refused outright:
OpenAI's paths never need it, and a path we forward must be the path we checked.
The organisation admin API (``/v1/organization/...``) is never forwarded: it manages keys,
users and billing, which no holder of a virtual key may reach.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from collector.errors import NotFound

# First segments after ``/v1/`` of the paths in OpenAI's API description.
FORWARDED_ROOTS = frozenset(
    {
        "assistants", "audio", "batches", "chat", "chatkit", "completions", "containers",
        "content_provenance_checks", "conversations", "embeddings", "evals", "files",
        "fine_tuning", "images", "models", "moderations", "realtime", "responses", "skills",
        "threads", "uploads", "vector_stores", "videos",
    }
)  # fmt: skip
_SEGMENT = re.compile(r"[A-Za-z0-9_\-.:~]{1,256}")


def check_path(scope: Mapping[str, Any]) -> None:
    """Raise :class:`NotFound` unless the request's path is safe and documented to forward."""
    path: str = scope["path"]
    raw = scope.get("raw_path")
    if not forwardable(path) or (raw is not None and b"%" in raw):
        shown = path[:200].encode("unicode_escape").decode("ascii")
        raise NotFound(f"Invalid URL ({scope['method']} {shown})", code="unknown_url")


def forwardable(path: str) -> bool:
    """True for ``/v1/<root>/...`` with plain segments: none empty, ``.`` or ``..``.

    Remembered per path (a pure function of it, and most traffic asks about a handful of
    paths): short paths only, and the memo starts over once it holds ``_MEMO_LIMIT`` of
    them (ids in paths), so its size stays bounded whatever clients send."""
    found = _MEMO.get(path)
    if found is None:
        found = _forwardable(path)
        if len(path) <= _MEMO_PATH_CHARS:
            if len(_MEMO) >= _MEMO_LIMIT:
                _MEMO.clear()
            _MEMO[path] = found
    return found


_MEMO: dict[str, bool] = {}
_MEMO_LIMIT = 4096
_MEMO_PATH_CHARS = 200


def _forwardable(path: str) -> bool:
    if not path.startswith("/v1/"):
        return False
    segments = path[4:].split("/")
    if segments[0] not in FORWARDED_ROOTS:
        return False
    return all(_SEGMENT.fullmatch(s) and s.strip(".") for s in segments)
