"""Size and shape limits shared by key creation and per-request attribution headers.

Tags end up as ``key=value`` rollup keys (400 chars) and users in 200-char columns, so the
limits are enforced where the values enter, with errors that name the offending parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from collector.errors import InvalidRequest

MAX_TAGS = 20
MAX_TAG_KEY = 64
MAX_TAG_VALUE = 200
MAX_USER = 200
MAX_NAME = 200
MAX_METADATA_BYTES = 4096

_TAG_KEY = re.compile(rf"[A-Za-z0-9_.:/-]{{1,{MAX_TAG_KEY}}}\Z")


def _printable(value: str) -> bool:
    return value.isprintable()


def check_tag(key: str, value: str, param: str) -> None:
    """Raise InvalidRequest unless ``key=value`` is a tag the rollups can hold."""
    if not _TAG_KEY.match(key):
        raise InvalidRequest(
            f"tag key {key[:80]!r} must be 1-{MAX_TAG_KEY} characters of A-Z a-z 0-9 _ . : / -",
            param=param,
        )
    if not value or len(value) > MAX_TAG_VALUE:
        raise InvalidRequest(
            f"tag {key!r} must have a value of 1-{MAX_TAG_VALUE} characters", param=param
        )
    if "," in value or not _printable(value):
        raise InvalidRequest(
            f"tag {key!r} has a value with a comma or a control character", param=param
        )


def check_tags(tags: Mapping[str, str], param: str) -> dict[str, str]:
    """A validated copy of ``tags`` (at most MAX_TAGS of them)."""
    if len(tags) > MAX_TAGS:
        raise InvalidRequest(f"at most {MAX_TAGS} tags are allowed, got {len(tags)}", param=param)
    for key, value in tags.items():
        check_tag(key, value, param)
    return dict(tags)


def check_text(value: str, param: str, limit: int) -> str:
    """A stripped, non-empty, printable string of at most ``limit`` characters."""
    value = value.strip()
    if not value or len(value) > limit or not _printable(value):
        raise InvalidRequest(f"{param} must be 1-{limit} printable characters", param=param)
    return value


MAX_LIMIT = 2_147_483_647  # the largest value of the limit columns (INTEGER on PostgreSQL)


def check_limit(value: int | None, param: str) -> int | None:
    """A per-minute limit: None (unlimited) or an integer in 1..MAX_LIMIT (the column's range)."""
    if value is not None and not 1 <= value <= MAX_LIMIT:
        shown = str(value) if len(str(value)) <= 20 else f"{str(value)[:20]}…"
        raise InvalidRequest(
            f"{param} must be an integer from 1 to {MAX_LIMIT}, got {shown}", param=param
        )
    return value
