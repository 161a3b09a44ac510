"""The response cache: exact-match answers of deterministic requests, per project.

Pure parts (the key of a request, whether it may be cached, the entry's bytes; for the
semantic cache, the question compared, its bucket and cosine similarity) and the stores of
answers and of question vectors (in memory with TTL and size bounds; Redis, shared by
gateway processes). The gateway's request path uses them through ``collector.gateway``'s
cache hooks.
"""

import importlib
from typing import TYPE_CHECKING, Any

from collector.cache._entry import CachedAnswer, Capture, decode_answer, encode_answer
from collector.cache._key import CACHEABLE_PARAMS, IGNORED_PARAMS, cache_key, uncacheable_reason
from collector.cache._mode import HEADER, CacheMode, opted_in, parse_mode
from collector.cache._store import CacheStore, MemoryStore, RedisStore, make_store

if TYPE_CHECKING:
    from collector.cache._semantic import (
        SEMANTIC_PATHS,
        Vector,
        best_match,
        bucket_key,
        decode_vector,
        semantic_text,
    )
    from collector.cache._vectors import (
        MemoryVectorIndex,
        RedisVectorIndex,
        VectorIndex,
        make_index,
    )

# The semantic cache's names load numpy: they are imported on first use, so a gateway whose
# semantic cache is off never loads it (tests/gateway/test_gateway_imports.py).
_LAZY = {
    **dict.fromkeys(
        ("SEMANTIC_PATHS", "Vector", "best_match", "bucket_key", "decode_vector", "semantic_text"),
        "collector.cache._semantic",
    ),
    **dict.fromkeys(
        ("MemoryVectorIndex", "RedisVectorIndex", "VectorIndex", "make_index"),
        "collector.cache._vectors",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'collector.cache' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "CACHEABLE_PARAMS",
    "HEADER",
    "IGNORED_PARAMS",
    "SEMANTIC_PATHS",
    "CacheMode",
    "CacheStore",
    "CachedAnswer",
    "Capture",
    "MemoryStore",
    "MemoryVectorIndex",
    "RedisStore",
    "RedisVectorIndex",
    "Vector",
    "VectorIndex",
    "best_match",
    "bucket_key",
    "cache_key",
    "decode_answer",
    "decode_vector",
    "encode_answer",
    "make_index",
    "make_store",
    "opted_in",
    "parse_mode",
    "semantic_text",
    "uncacheable_reason",
]
