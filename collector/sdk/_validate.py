"""The attribution values the gateway accepts, checked in the app before a request is sent.

The same limits as ``collector.keys`` (a test keeps them equal), restated here so that
importing the SDK middleware does not pull in the gateway's database layer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

MAX_TAGS = 20
MAX_TAG_KEY = 64
MAX_TAG_VALUE = 200
MAX_USER = 200
MAX_METADATA_BYTES = 4096

_TAG_KEY = re.compile(rf"[A-Za-z0-9_.:/-]{{1,{MAX_TAG_KEY}}}\Z")


def check_user(user: str | None) -> str | None:
    """A stripped end-user name of 1-200 printable characters (or None)."""
    if user is None:
        return None
    if not isinstance(user, str):
        raise ValueError(f"user must be a string, got {type(user).__name__}")
    stripped = user.strip()
    if not stripped or len(stripped) > MAX_USER or not stripped.isprintable():
        raise ValueError(f"user must be 1-{MAX_USER} printable characters, got {user[:80]!r}")
    return stripped


def check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """A validated copy: keys of A-Z a-z 0-9 _ . : / -, values without commas."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise ValueError(f"tags must be a mapping of str to str, got {type(tags).__name__}")
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags are allowed, got {len(tags)}")
    for key, value in tags.items():
        if not isinstance(key, str) or not _TAG_KEY.match(key):
            raise ValueError(
                f"tag key {str(key)[:80]!r} must be 1-{MAX_TAG_KEY} characters of "
                "A-Z a-z 0-9 _ . : / -"
            )
        if not isinstance(value, str) or not value or len(value) > MAX_TAG_VALUE:
            raise ValueError(f"tag {key!r} must have a string value of 1-{MAX_TAG_VALUE} chars")
        if "," in value or not value.isprintable() or value != value.strip():
            raise ValueError(
                f"tag {key!r} has a value with a comma, a control character or edge spaces"
            )
    return dict(tags)


def check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of a JSON object that fits the gateway's 4 KiB header limit."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ValueError(f"metadata must be a mapping, got {type(metadata).__name__}")
    value = dict(metadata)
    encode_metadata(value)
    return value


def encode_metadata(metadata: Mapping[str, Any]) -> str:
    """The header value: compact ASCII JSON; ValueError when not JSON-able or too large."""
    if any(not isinstance(key, str) for key in metadata):
        raise ValueError("metadata keys must be strings")
    try:
        text = json.dumps(metadata, separators=(",", ":"), allow_nan=False, ensure_ascii=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata must be JSON-serializable: {exc}") from None
    if len(text) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {len(text)} bytes as JSON; at most {MAX_METADATA_BYTES}")
    return text


def encode_tags(tags: Mapping[str, str]) -> str:
    """The ``x-spendscope-tags`` header value: ``k=v,k2=v2``."""
    return ",".join(f"{key}={value}" for key, value in tags.items())
