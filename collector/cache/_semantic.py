"""The semantic cache's pure parts: which text of a request is compared, the bucket it is
compared in, and cosine similarity over float32 vectors.

Only the question is compared: the last message of a chat (a user's text) or a completions
``prompt`` string. Everything else — model, earlier messages (the system prompt and the
conversation so far), tools, temperature, seed, response_format, … — must match exactly: it
is hashed into the *bucket*, with the project (unless answers are shared) and the embedding
model, and a question is only ever compared with the questions of its own bucket. So a
similar question under another system prompt, model or project is never a hit.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from collector.cache._key import cache_key

Vector = npt.NDArray[np.float32]
SEMANTIC_PATHS = frozenset({"/v1/chat/completions", "/v1/completions"})
_SPACES = re.compile(r"\s+")


def semantic_text(path: str, body: Mapping[str, Any]) -> str | None:
    """The question to embed (whitespace collapsed), or None when the request has none the
    semantic cache compares (another endpoint, a last message that is not a user's text)."""
    if path == "/v1/completions":
        prompt = body.get("prompt")
        return _clean(prompt) if isinstance(prompt, str) else None
    if path != "/v1/chat/completions":
        return None
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user" or set(last) - {"role", "content"}:
        return None
    content = last.get("content")
    if isinstance(content, list):
        if not all(isinstance(p, dict) and p.get("type") == "text" for p in content):
            return None  # images, audio, files: not compared by their text
        content = "\n".join(str(p.get("text", "")) for p in content)
    return _clean(content) if isinstance(content, str) else None


def _clean(text: str) -> str | None:
    text = _SPACES.sub(" ", text).strip()
    return text or None


def bucket_key(
    path: str, body: Mapping[str, Any], project_id: int, *, shared: bool, model: str
) -> str:
    """Where a request's question is compared: its body without the question, hashed (as the
    exact key is, so the same fields are ignored), plus the embedding model."""
    rest = dict(body)
    if path == "/v1/completions":
        rest.pop("prompt", None)
    else:
        messages = list(rest.get("messages") or [])
        rest["messages"] = messages[:-1]
    rest["__semantic_model__"] = model
    return cache_key(path, rest, project_id, shared=shared)


def decode_vector(data: object) -> Vector | None:
    """A unit float32 vector from an embedding's base64 (or float list), None if malformed."""
    try:
        if isinstance(data, str):
            vector = np.frombuffer(base64.b64decode(data, validate=True), dtype="<f4")
        elif isinstance(data, list) and all(isinstance(x, (int, float)) for x in data):
            vector = np.asarray(data, dtype=np.float32)
        else:
            return None
    except (binascii.Error, ValueError):
        return None
    norm = float(np.linalg.norm(vector)) if vector.size else 0.0
    if not np.isfinite(norm) or norm == 0.0:
        return None
    return (vector / norm).astype(np.float32)


def best_match(matrix: Vector, vector: Vector) -> tuple[int, float] | None:
    """The row of ``matrix`` (unit rows) most similar to ``vector``, with its cosine.

    ``einsum`` rather than ``@``: the BLAS behind ``@`` spreads a matrix-vector product over
    threads, which on a busy gateway host made one search 50× slower (docs/performance.md)."""
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] != vector.shape[0]:
        return None
    scores = np.einsum("ij,j->i", matrix, vector)
    index = int(np.argmax(scores))
    return index, float(scores[index])
