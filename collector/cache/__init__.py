"""The response cache: exact-match answers of deterministic requests, per project.

Pure parts (the key of a request, whether it may be cached, the entry's bytes) and the two
stores (in memory with TTL and size bounds; Redis, shared by gateway processes). The
gateway's request path uses them through ``collector.gateway``'s cache hooks.
"""

from collector.cache._entry import CachedAnswer, decode_answer, encode_answer
from collector.cache._key import CACHEABLE_PARAMS, IGNORED_PARAMS, cache_key, uncacheable_reason
from collector.cache._mode import HEADER, CacheMode, opted_in, parse_mode
from collector.cache._store import CacheStore, MemoryStore, RedisStore, make_store

__all__ = [
    "CACHEABLE_PARAMS",
    "HEADER",
    "IGNORED_PARAMS",
    "CacheMode",
    "CacheStore",
    "CachedAnswer",
    "MemoryStore",
    "RedisStore",
    "cache_key",
    "decode_answer",
    "encode_answer",
    "make_store",
    "opted_in",
    "parse_mode",
    "uncacheable_reason",
]
