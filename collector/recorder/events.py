"""What the request path hands the recorder: one ``UsageEvent`` per logical request.

Events are plain typed values, serialisable to JSON for the spool without loss
(Decimal as string, datetimes as ISO-8601 UTC).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from collector.ulid import ulid as ulid  # re-exported: collector.recorder.ulid
from collector.usage import TOOL_CALL_FIELDS, Usage


class _Entropy:
    """``os.urandom`` bytes drawn a few KB at a time, dealt out 10 bytes per id.

    ``os.urandom`` releases the GIL: once per request, that handed the interpreter to the
    recorder's writer thread and queued the event loop behind it. A forked child starts
    with a fresh pool, so no two processes deal the same bytes.
    """

    __slots__ = ("_at", "_pool")
    _SIZE = 10 * 400

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def reset(self) -> None:
        self._pool, self._at = b"", 0

    def take10(self) -> int:
        at = self._at
        if at + 10 > len(self._pool):
            self._pool, at = os.urandom(self._SIZE), 0
        self._at = at + 10
        return int.from_bytes(self._pool[at : at + 10], "big")


_ENTROPY = _Entropy()
os.register_at_fork(after_in_child=_ENTROPY.reset)


def new_request_id() -> str:
    """A ULID: 26 chars, lexicographically sortable by creation time, unique across processes."""
    return ulid(time.time_ns() // 1_000_000, _ENTROPY.take10())


def derived_request_id(at: datetime, key: str) -> str:
    """A ULID whose random part is a hash of ``key``: the same ``at`` and ``key`` always give
    the same id, so an event recorded twice (a replay, a re-read) is stored once."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:10], "big")
    return ulid(int(at.timestamp() * 1000) & (1 << 48) - 1, digest)


@dataclass(slots=True)
class AttemptEvent:
    """One upstream try."""

    attempt_no: int
    started_at: datetime
    duration_ms: float
    model: str | None = None
    upstream: str | None = None
    http_status: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal | None = None
    provider: str = "openai"  # who served this try (collector.providers; migration 0025)
    upstream_key_last4: str | None = None  # which server-held key the try used (never more)


@dataclass(slots=True)
class UsageEvent:
    """One logical client request, as the recorder writes it to ``requests``."""

    id: str
    started_at: datetime
    duration_ms: float
    endpoint: str
    outcome: str
    cost_source: str
    ttft_ms: float | None = None
    model_requested: str | None = None
    model_served: str | None = None
    stream: bool = False
    project_id: int | None = None
    api_key_id: int | None = None
    end_user: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    http_status: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    audio_prompt_tokens: int = 0
    audio_completion_tokens: int = 0
    image_tokens: int = 0
    audio_seconds: Decimal = Decimal(0)
    characters: int = 0
    images: int = 0
    cost_usd: Decimal | None = None
    price_id: str | None = None
    batch: bool = False
    service_tier: str | None = None
    cache_hit: bool = False
    upstream: str | None = None
    upstream_request_id: str | None = None
    cost_note: str | None = None
    web_search_calls: int = 0
    web_search_preview_calls: int = 0
    file_search_calls: int = 0
    code_interpreter_sessions: int = 0
    image_generation_calls: int = 0
    computer_calls: int = 0
    batch_id: str | None = None  # the Batch API job this row is a line of
    saved_usd: Decimal | None = None  # a response cache hit: the cost of the answer it replayed
    cache_write_tokens: int = 0  # prompt tokens written to the prompt cache (migration 0021)
    provider: str = "openai"  # who served the answer (collector.providers; migration 0025)
    attempts: list[AttemptEvent] = field(default_factory=list)

    @property
    def retried(self) -> bool:
        """Needed at least one retry (or fallback) beyond the first try."""
        return len(self.attempts) > 1


def usage_columns(u: Usage) -> dict[str, Any]:
    """The ``requests`` columns of a usage (image tokens in and out share one column)."""
    return {
        "prompt_tokens": u.prompt_tokens,
        "cached_tokens": u.cached_tokens,
        "cache_write_tokens": u.cache_write_tokens,
        "completion_tokens": u.completion_tokens,
        "reasoning_tokens": u.reasoning_tokens,
        "audio_prompt_tokens": u.audio_prompt_tokens,
        "audio_completion_tokens": u.audio_completion_tokens,
        "image_tokens": u.image_prompt_tokens + u.image_completion_tokens,
        "audio_seconds": u.audio_seconds,
        "characters": u.characters,
        "images": u.images,
        **{name: getattr(u, name) for name in TOOL_CALL_FIELDS},
    }


def set_usage_columns(event: UsageEvent, u: Usage) -> None:
    """Put a usage on an event's columns: what ``usage_columns`` maps (a test holds the two
    together), without a dict and keyword arguments per event."""
    event.prompt_tokens, event.cached_tokens = u.prompt_tokens, u.cached_tokens
    event.cache_write_tokens, event.completion_tokens = u.cache_write_tokens, u.completion_tokens
    event.reasoning_tokens, event.audio_prompt_tokens = u.reasoning_tokens, u.audio_prompt_tokens
    event.audio_completion_tokens = u.audio_completion_tokens
    event.image_tokens = u.image_prompt_tokens + u.image_completion_tokens
    event.audio_seconds, event.characters, event.images = u.audio_seconds, u.characters, u.images
    event.web_search_calls, event.file_search_calls = u.web_search_calls, u.file_search_calls
    event.web_search_preview_calls = u.web_search_preview_calls
    event.code_interpreter_sessions = u.code_interpreter_sessions
    event.image_generation_calls, event.computer_calls = u.image_generation_calls, u.computer_calls


_DECIMAL_FIELDS = {"cost_usd", "audio_seconds", "saved_usd"}
_TIME_FIELDS = {"started_at"}


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def event_to_json(event: UsageEvent) -> dict[str, Any]:
    """A JSON-safe dict that :func:`event_from_json` turns back into an equal event."""
    data = {k: _encode(v) for k, v in asdict(event).items() if k != "attempts"}
    data["attempts"] = [{k: _encode(v) for k, v in asdict(a).items()} for a in event.attempts]
    return data


def _decode(cls: type[Any], data: dict[str, Any]) -> dict[str, Any]:
    known = {f.name for f in fields(cls)}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            continue
        if key in _DECIMAL_FIELDS and value is not None:
            value = Decimal(value)
        elif key in _TIME_FIELDS:
            value = datetime.fromisoformat(value)
        out[key] = value
    return out


def event_from_json(data: dict[str, Any]) -> UsageEvent:
    attempts = [AttemptEvent(**_decode(AttemptEvent, a)) for a in data.get("attempts", [])]
    body = _decode(UsageEvent, {k: v for k, v in data.items() if k != "attempts"})
    return UsageEvent(**body, attempts=attempts)
