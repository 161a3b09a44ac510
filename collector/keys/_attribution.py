"""Per-request attribution from ``x-spendscope-*`` headers, layered over the key's own.

Pure: headers and the resolved principal in, an ``Attribution`` out. The project always comes
from the key; no header names or changes it. What the key itself fixes (its end user, its tags)
is authoritative too, because budgets can be scoped to users and tags: a header may add tags
and set a user on a shared key, but asking for a different value than the key's is refused
(400, ``param`` naming the header) rather than silently ignored.

    x-spendscope-user: alice
    x-spendscope-tags: feature=search,env=prod
    x-spendscope-metadata: {"trace_id": "abc123"}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from collector.errors import InvalidRequest
from collector.keys._types import KeyPrincipal
from collector.keys._validate import (
    MAX_METADATA_BYTES,
    MAX_TAGS,
    MAX_USER,
    check_tag,
    check_text,
)

USER_HEADER = "x-spendscope-user"
TAGS_HEADER = "x-spendscope-tags"
METADATA_HEADER = "x-spendscope-metadata"
_HEADER_STEM = "x-spendscope-"


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who and what a request's spend is attributed to, within the key's project."""

    end_user: str | None
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def parse_attribution(
    headers: Mapping[str, str], body_user: str | None, principal: KeyPrincipal
) -> Attribution:
    """Read the attribution headers; raise InvalidRequest naming the header when malformed."""
    found = {
        name.lower(): value
        for name, value in headers.items()
        if name[: len(_HEADER_STEM)].lower() == _HEADER_STEM
    }
    return Attribution(
        end_user=_end_user(found.get(USER_HEADER), body_user, principal),
        tags=_tags(found.get(TAGS_HEADER), principal),
        metadata=_metadata(found.get(METADATA_HEADER)),
    )


def _end_user(header: str | None, body_user: str | None, principal: KeyPrincipal) -> str | None:
    """Key's user, else the header, else the body's OpenAI ``user`` field (cut to 200 chars)."""
    if header is not None:
        header = check_text(header, USER_HEADER, MAX_USER)
    if principal.end_user is not None:
        if header is not None and header != principal.end_user:
            raise InvalidRequest(
                f"this key belongs to user {principal.end_user!r}; {USER_HEADER} cannot change it",
                param=USER_HEADER,
            )
        return principal.end_user
    if header is not None:
        return header
    if body_user is None or not body_user.strip():
        return None
    return body_user.strip()[:MAX_USER]


def _parse_tags(header: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in header.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise InvalidRequest(
                f"{TAGS_HEADER} must look like 'k=v,k2=v2'; {item.strip()[:80]!r} has no '='",
                param=TAGS_HEADER,
            )
        check_tag(key, value, TAGS_HEADER)
        if key in tags:
            raise InvalidRequest(f"{TAGS_HEADER} repeats tag {key!r}", param=TAGS_HEADER)
        tags[key] = value
    return tags


def _tags(header: str | None, principal: KeyPrincipal) -> dict[str, str]:
    if header is None:
        return dict(principal.tags)
    return _merge_tags(dict(principal.tags), _parse_tags(header), principal, TAGS_HEADER)


def _merge_tags(
    merged: dict[str, str], extra: Mapping[str, str], principal: KeyPrincipal, param: str
) -> dict[str, str]:
    """``extra`` added to ``merged``; a tag the key fixes cannot take another value."""
    for key, value in extra.items():
        fixed = principal.tags.get(key)
        if fixed is not None and fixed != value:
            raise InvalidRequest(
                f"tag {key!r} is fixed to {fixed!r} by this key; {param} cannot change it",
                param=param,
            )
        merged[key] = value
    if len(merged) > MAX_TAGS:
        raise InvalidRequest(
            f"at most {MAX_TAGS} tags per request (the key's and {param}'s together)",
            param=param,
        )
    return merged


def reported_attribution(
    base: Attribution,
    user: Any,
    tags: Any,
    metadata: Any,
    principal: KeyPrincipal,
) -> Attribution:
    """A reported call's own ``user``/``tags``/``metadata`` layered over ``base`` (the batch's
    headers), within what the key allows: the same rules as the headers, values as JSON."""
    end_user = base.end_user
    if user is not None:
        if not isinstance(user, str):
            raise InvalidRequest("user must be a string", param="user")
        end_user = check_text(user, "user", MAX_USER)
        if principal.end_user is not None and end_user != principal.end_user:
            raise InvalidRequest(
                f"this key belongs to user {principal.end_user!r}; user cannot change it",
                param="user",
            )
    merged = dict(base.tags)
    if tags is not None:
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise InvalidRequest("tags must be an object of string values", param="tags")
        for key, value in tags.items():
            check_tag(key, value, "tags")
        merged = _merge_tags(merged, tags, principal, "tags")
    extra: dict[str, Any] = {}
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise InvalidRequest("metadata must be a JSON object", param="metadata")
        if len(orjson.dumps(metadata)) > MAX_METADATA_BYTES:
            raise InvalidRequest(f"metadata is over {MAX_METADATA_BYTES} bytes", param="metadata")
        extra = metadata
    return Attribution(end_user, merged, {**base.metadata, **extra} if extra else base.metadata)


def _metadata(header: str | None) -> dict[str, Any]:
    if header is None:
        return {}
    if len(header.encode()) > MAX_METADATA_BYTES:
        raise InvalidRequest(
            f"{METADATA_HEADER} is over {MAX_METADATA_BYTES} bytes", param=METADATA_HEADER
        )
    try:
        value = orjson.loads(header)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            f"{METADATA_HEADER} is not valid JSON", param=METADATA_HEADER
        ) from None
    if not isinstance(value, dict):
        raise InvalidRequest(
            f"{METADATA_HEADER} must be a JSON object, got {type(value).__name__}",
            param=METADATA_HEADER,
        )
    return value
