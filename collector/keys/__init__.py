"""Virtual keys: issue, resolve (cached), revoke, list; and per-request attribution.

Keys are stored as SHA-256 hashes only. The gateway resolves them through ``KeyCache``
(revocation takes effect within its TTL, 30 s by default) and reads ``x-spendscope-*``
headers with ``parse_attribution``, always within the key's own project.
"""

from collector.keys._attribution import (
    METADATA_HEADER,
    TAGS_HEADER,
    USER_HEADER,
    Attribution,
    parse_attribution,
    reported_attribution,
)
from collector.keys._cache import KeyCache
from collector.keys._store import (
    create_key,
    hash_key,
    list_keys,
    looks_like_key,
    resolve_key,
    revoke_key,
)
from collector.keys._types import CreatedKey, KeyInfo, KeyPrincipal
from collector.keys._validate import (
    MAX_LIMIT,
    MAX_METADATA_BYTES,
    MAX_TAG_VALUE,
    MAX_TAGS,
    MAX_USER,
    check_tag,
)

__all__ = [
    "MAX_LIMIT",
    "MAX_METADATA_BYTES",
    "MAX_TAGS",
    "MAX_TAG_VALUE",
    "MAX_USER",
    "METADATA_HEADER",
    "TAGS_HEADER",
    "USER_HEADER",
    "Attribution",
    "CreatedKey",
    "KeyCache",
    "KeyInfo",
    "KeyPrincipal",
    "check_tag",
    "create_key",
    "hash_key",
    "list_keys",
    "looks_like_key",
    "parse_attribution",
    "reported_attribution",
    "resolve_key",
    "revoke_key",
]
