"""``/v1/embeddings``, ``/v1/models`` and ``/v1/moderations``: cheap, precomputed answers.

Embedding vectors are deterministic and carry meaning the way a cheap model would: a text's
words (lower-cased, stop words out, a plural ``s`` cut) and their character trigrams are
hashed into signed buckets of the requested dimensions, and the sum normalised. Texts sharing
words and stems are near (cosine ~0.7–0.9 for paraphrases), unrelated ones near 0; so the
gateway's semantic cache is tested end to end. Vectors are kept per text (LRU), serialized
once as float JSON and base64.
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import orjson
from aiohttp import web

from collector.mock_upstream._generate import JsonDict, resolve_model
from collector.mock_upstream._http import ApiError, bill, ctx_of, json_response
from collector.mock_upstream._models import EMBEDDING_DIMENSIONS, MODEL_LIST
from collector.tokens import count_text_tokens

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(  # words that carry no meaning of their own
    _WORD.findall(
        "a an and are as at be by can could do does for from how i in is it me my of on or "
        "please should tell the to was what when where which who why will with would you your"
    )
)
_TRIGRAM_WEIGHT = 0.35
_CATEGORIES = (
    "hate",
    "hate/threatening",
    "harassment",
    "harassment/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


def _features(text: str) -> list[tuple[str, float]]:
    """Words (stemmed by a plural ``s``) and their character trigrams, weighted."""
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOP] or [text.lower()]
    found: list[tuple[str, float]] = []
    for word in words:
        stem = word[:-1] if len(word) > 3 and word.endswith("s") else word
        found.append((f"w:{stem}", 1.0))
        padded = f"<{stem}>"
        found += [(f"t:{padded[i : i + 3]}", _TRIGRAM_WEIGHT) for i in range(len(padded) - 2)]
    return found


@lru_cache(maxsize=4096)
def _vector(text: str, dims: int) -> tuple[orjson.Fragment, str]:
    """A unit vector of ``dims`` floats as (float JSON fragment, base64 of little-endian f32)."""
    vector = np.zeros(dims, dtype=np.float64)
    for feature, weight in _features(text):
        h = zlib.crc32(feature.encode())
        vector[h % dims] += weight if (h >> 31) & 1 else -weight
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:
        vector[zlib.crc32(text.encode()) % dims], norm = 1.0, 1.0
    packed = (vector / norm).astype("<f4")
    fragment = orjson.Fragment(orjson.dumps(packed.tolist()))
    return fragment, base64.b64encode(packed.tobytes()).decode()


async def embeddings(request: web.Request) -> web.StreamResponse:
    """Embeddings; ``dimensions`` (text-embedding-3 only) and ``encoding_format`` float|base64."""
    ctx = ctx_of(request)
    body = ctx.body
    requested, served = resolve_model(body)
    dims = _dimensions(requested, body.get("dimensions"))
    base64_out = body.get("encoding_format") == "base64"
    data, tokens = [], 0
    for index, item in enumerate(_inputs(body.get("input"))):
        text = item if isinstance(item, str) else ",".join(map(str, item))
        tokens += count_text_tokens(item, served) if isinstance(item, str) else len(item)
        vector = _vector(text, dims)[1 if base64_out else 0]
        data.append({"object": "embedding", "index": index, "embedding": vector})
    payload = {
        "object": "list",
        "data": data,
        "model": served,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    bill(request, "embeddings", served, payload["usage"])
    return json_response(request, payload, tokens)


def _dimensions(model: str, raw: Any) -> int:
    native = EMBEDDING_DIMENSIONS.get(model, 1536)
    if raw is None:
        return native
    if model == "text-embedding-ada-002":
        raise ApiError(
            400, "This model does not support specifying dimensions.", param="dimensions"
        )
    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= native:
        raise ApiError(
            400, f"Invalid 'dimensions': must be between 1 and {native}.", param="dimensions"
        )
    return raw


def _inputs(raw: Any) -> list[str | list[int]]:
    """``input`` as a list of strings or token arrays, with OpenAI's 400 for anything else."""
    if isinstance(raw, str) and raw:
        return [raw]
    if isinstance(raw, list) and raw:
        if all(isinstance(t, int) for t in raw):
            return [list(raw)]
        if all(isinstance(t, str) and t for t in raw):
            return list(raw)
        if all(isinstance(t, list) and t and all(isinstance(x, int) for x in t) for t in raw):
            return [list(t) for t in raw]
    raise ApiError(
        400,
        "'$.input' is invalid. Please check the API reference: "
        "https://platform.openai.com/docs/api-reference.",
        param="input",
    )


@lru_cache(maxsize=1)
def _models_body() -> bytes:
    data = [{"id": i, "object": "model", "created": c, "owned_by": o} for i, c, o in MODEL_LIST]
    return orjson.dumps({"object": "list", "data": data})


async def list_models(request: web.Request) -> web.StreamResponse:
    """``GET /v1/models``: a fixed list, served from pre-serialized bytes."""
    return web.Response(body=_models_body(), headers=ctx_of(request).headers(0))


async def get_model(request: web.Request) -> web.StreamResponse:
    """``GET /v1/models/{model}``: one entry of the list, or OpenAI's 404."""
    wanted = request.match_info["model"]
    for model_id, created, owner in MODEL_LIST:
        if model_id == wanted:
            entry = {"id": model_id, "object": "model", "created": created, "owned_by": owner}
            return json_response(request, entry, 0)
    raise ApiError(
        404, f"The model '{wanted}' does not exist", param="model", code="model_not_found"
    )


async def moderations(request: web.Request) -> web.StreamResponse:
    """Moderation: a category is flagged only when the text contains ``[flag:<category>]``."""
    ctx = ctx_of(request)
    body = {"model": "omni-moderation-latest", **ctx.body}
    _, served = resolve_model(body)
    texts = _moderation_texts(body.get("input"))
    results = [_moderation_result(text) for text in texts]
    payload = {"id": ctx.state.object_id("modr-"), "model": served, "results": results}
    return json_response(request, payload, 0)


def _moderation_texts(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw:
        if all(isinstance(t, str) for t in raw):
            return list(raw)
        parts = [p.get("text", "") for p in raw if isinstance(p, Mapping)]
        return ["".join(parts)]
    raise ApiError(
        400,
        "Missing required parameter: 'input'.",
        param="input",
        code="missing_required_parameter",
    )


def _moderation_result(text: str) -> JsonDict:
    flagged = {c: f"[flag:{c}]" in text for c in _CATEGORIES}
    seed = zlib.crc32(text.encode())
    scores = {
        c: (0.97 if flagged[c] else ((seed >> (i % 24)) % 1000) / 1_000_000)
        for i, c in enumerate(_CATEGORIES)
    }
    return {
        "flagged": any(flagged.values()),
        "categories": flagged,
        "category_scores": scores,
        "category_applied_input_types": {c: ["text"] for c in _CATEGORIES},
    }
