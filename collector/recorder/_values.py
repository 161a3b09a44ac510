"""An event's values in column order: what the writer inserts and the codec encodes.

``REQUEST_FIELDS`` and ``ATTEMPT_FIELDS`` are the events' fields in order (a request's
attempts apart). The readers are spelled out, not ``attrgetter``: CPython specializes a plain
attribute load, a fraction of ``attrgetter``'s generic lookup a field (bench/README.md). A
field added to the events but not here would shift every later value of every row and line:
``_check`` refuses to load this module instead (each field given its own name, so the order
is checked too).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from collector.recorder.events import AttemptEvent, UsageEvent

REQUEST_FIELDS = tuple(f.name for f in fields(UsageEvent) if f.name != "attempts")
ATTEMPT_FIELDS = tuple(f.name for f in fields(AttemptEvent))


def request_values(e: UsageEvent) -> tuple[Any, ...]:
    """An event's values in ``REQUEST_FIELDS`` order (its attempts apart), unconverted."""
    return (
        e.id, e.started_at, e.duration_ms, e.endpoint, e.outcome, e.cost_source, e.ttft_ms,
        e.model_requested, e.model_served, e.stream, e.project_id, e.api_key_id, e.end_user,
        e.tags, e.metadata, e.http_status, e.error_type, e.error_message, e.prompt_tokens,
        e.cached_tokens, e.completion_tokens, e.reasoning_tokens, e.audio_prompt_tokens,
        e.audio_completion_tokens, e.image_tokens, e.audio_seconds, e.characters, e.images,
        e.cost_usd, e.price_id, e.batch, e.service_tier, e.cache_hit, e.upstream,
        e.upstream_request_id, e.cost_note, e.web_search_calls, e.web_search_preview_calls,
        e.file_search_calls, e.code_interpreter_sessions, e.image_generation_calls,
        e.computer_calls, e.batch_id, e.saved_usd, e.cache_write_tokens, e.provider,
    )  # fmt: skip


def attempt_values(a: AttemptEvent) -> tuple[Any, ...]:
    """An attempt's values in ``ATTEMPT_FIELDS`` order, unconverted."""
    return (
        a.attempt_no, a.started_at, a.duration_ms, a.model, a.upstream, a.http_status,
        a.error_type, a.error_message, a.prompt_tokens, a.completion_tokens, a.cost_usd,
        a.provider, a.upstream_key_last4,
    )  # fmt: skip


def _check() -> None:
    request: tuple[Any, ...] = REQUEST_FIELDS  # only the order counts, not the types
    attempt: tuple[Any, ...] = ATTEMPT_FIELDS
    if request_values(UsageEvent(*request)) != request or (
        attempt_values(AttemptEvent(*attempt)) != attempt
    ):
        raise AssertionError("the value readers in _values do not follow the events' fields")


_check()
