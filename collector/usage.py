"""Typed usage and cost values shared by pricing, the gateway and the recorder.

Field names mirror OpenAI's wire format so nothing is renamed on the way through:
``prompt_tokens`` *includes* ``cached_tokens`` and ``completion_tokens`` *includes*
``reasoning_tokens``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from enum import StrEnum
from typing import Any

# How a ``Cost.note`` starts when the price was assumed for a dated snapshot the catalog
# does not list (booked ``estimated`` and alerted like ``unpriced``).
ASSUMED_NOTE = "assumed price: snapshot"
# The note of a priced model whose usage held nothing it bills for (booked ``unpriced``).
NO_UNITS_NOTE = "no billable units in the usage of a priced model"
# The note of a request that wrote to the prompt cache of a model whose cache-write rate the
# catalog does not hold: those tokens are billed at the input rate and booked ``estimated``.
CACHE_WRITE_NOTE = (
    "cache-write rate unknown for this price: cache-write tokens billed at the input rate"
)


# Usage fields (and ``requests`` / rollup columns) counting built-in tool calls. Each is
# priced per call by the catalog's ``tools`` section under the same name minus the suffix.
TOOL_CALL_FIELDS = (
    "web_search_calls",
    "web_search_preview_calls",
    "file_search_calls",
    "code_interpreter_sessions",
    "image_generation_calls",
    "computer_calls",
)
# The tools by the names users give them (``--tool-calls web_search=2``, ingest's
# ``tool_calls``), each with its usage field.
TOOL_CALL_NAMES = {
    "web_search": "web_search_calls",
    "web_search_preview": "web_search_preview_calls",
    "file_search": "file_search_calls",
    "code_interpreter": "code_interpreter_sessions",
    "image_generation": "image_generation_calls",
    "computer": "computer_calls",
}


# The endpoints whose usage a client may report (ingest API, SDK direct mode), by path,
# each with the reader of its usage object (``collector.pricing.usage_from_api``).
REPORTED_PATHS = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/embeddings": "embeddings",
    "/v1/completions": "completions",
    "/v1/images/generations": "images",
    "/v1/images/edits": "images",
    "/v1/images/variations": "images",
    "/v1/audio/speech": "speech",
    "/v1/audio/transcriptions": "transcription",
    "/v1/audio/translations": "transcription",
    "/v1/realtime": "realtime",
}


class CostSource(StrEnum):
    """Where a row's cost came from; every priced or unpriced row says which."""

    PROVIDER_REPORTED = "provider_reported"
    COMPUTED = "computed"
    ESTIMATED = "estimated"
    UNPRICED = "unpriced"
    # Usage reported by the client (ingest API, OTLP spans) × catalog: the gateway never saw
    # the response, so the tokens are the client's word.
    REPORTED = "reported"


class Outcome(StrEnum):
    """Outcome of one logical client request (see docs/design.md, "Meanings that must be exact")."""

    SUCCESS = "success"
    CLIENT_ERROR = "client_error"
    UPSTREAM_ERROR = "upstream_error"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    BLOCKED = "blocked"
    CACHE_HIT = "cache_hit"  # answered from the response cache: $0, saving the original's cost


# Outcomes whose client got its answer: not failures anywhere (logs, error rate, spans).
ANSWERED_OUTCOMES = frozenset({Outcome.SUCCESS.value, Outcome.CACHE_HIT.value})


def outcome_for_status(status: int) -> Outcome:
    """The outcome a final HTTP status means (docs/design.md, "Meanings that must be exact")."""
    if status < 400:
        return Outcome.SUCCESS
    if status == 408:
        return Outcome.TIMEOUT
    if status == 429 or status >= 500:
        return Outcome.UPSTREAM_ERROR
    return Outcome.CLIENT_ERROR


_NO_SECONDS = Decimal(0)


@dataclass(frozen=True, slots=True, init=False)
class Usage:
    """Billable units of one request, as OpenAI reports them (or as we counted them).

    Token fields follow OpenAI's inclusion rules. Non-token units cover the endpoints
    billed otherwise: audio seconds (transcription), characters (speech), images.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    audio_prompt_tokens: int = 0
    cached_audio_tokens: int = 0  # part of both cached_tokens and audio_prompt_tokens
    audio_completion_tokens: int = 0
    image_prompt_tokens: int = 0
    image_completion_tokens: int = 0
    audio_seconds: Decimal = _NO_SECONDS
    characters: int = 0
    images: int = 0
    image_size: str | None = None
    image_quality: str | None = None
    # Built-in tool calls, billed per call on top of tokens (TOOL_CALL_FIELDS).
    web_search_calls: int = 0
    web_search_preview_calls: int = 0
    file_search_calls: int = 0
    code_interpreter_sessions: int = 0
    image_generation_calls: int = 0
    computer_calls: int = 0
    # Prompt tokens written to the prompt cache (GPT-5.6 and later bill them at their own
    # rate): part of prompt_tokens, disjoint from cached_tokens (the tokens read from it).
    # Last, so that a Usage built from positional values means what it meant before.
    cache_write_tokens: int = 0

    def __init__(
        self,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
        audio_prompt_tokens: int = 0,
        cached_audio_tokens: int = 0,
        audio_completion_tokens: int = 0,
        image_prompt_tokens: int = 0,
        image_completion_tokens: int = 0,
        audio_seconds: Decimal = _NO_SECONDS,
        characters: int = 0,
        images: int = 0,
        image_size: str | None = None,
        image_quality: str | None = None,
        web_search_calls: int = 0,
        web_search_preview_calls: int = 0,
        file_search_calls: int = 0,
        code_interpreter_sessions: int = 0,
        image_generation_calls: int = 0,
        computer_calls: int = 0,
        cache_write_tokens: int = 0,
    ) -> None:
        """The fields in order, as the dataclass's own ``__init__`` takes them, each put in
        its slot by the slot's setter: a frozen dataclass sets each through
        ``object.__setattr__``, which cost twice as much (one usage is built per request).
        A test holds the order, the names and the defaults to the fields'."""
        put = _PUT
        put[0](self, prompt_tokens)
        put[1](self, completion_tokens)
        put[2](self, cached_tokens)
        put[3](self, reasoning_tokens)
        put[4](self, audio_prompt_tokens)
        put[5](self, cached_audio_tokens)
        put[6](self, audio_completion_tokens)
        put[7](self, image_prompt_tokens)
        put[8](self, image_completion_tokens)
        put[9](self, audio_seconds)
        put[10](self, characters)
        put[11](self, images)
        put[12](self, image_size)
        put[13](self, image_quality)
        put[14](self, web_search_calls)
        put[15](self, web_search_preview_calls)
        put[16](self, file_search_calls)
        put[17](self, code_interpreter_sessions)
        put[18](self, image_generation_calls)
        put[19](self, computer_calls)
        put[20](self, cache_write_tokens)

    @property
    def tool_calls(self) -> int:
        """Built-in tool calls of every kind (0 for almost every request: one check)."""
        return (
            self.web_search_calls
            + self.web_search_preview_calls
            + self.file_search_calls
            + self.code_interpreter_sessions
            + self.image_generation_calls
            + self.computer_calls
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def validate(self) -> None:
        """Raise ValueError when the counts break OpenAI's inclusion rules."""
        try:  # every count at once: an OR of integers is negative iff one of them is
            counts = (
                self.prompt_tokens | self.completion_tokens | self.cached_tokens
                | self.cache_write_tokens | self.reasoning_tokens | self.audio_prompt_tokens
                | self.cached_audio_tokens
                | self.audio_completion_tokens | self.image_prompt_tokens
                | self.image_completion_tokens | self.characters | self.images
                | self.web_search_calls | self.web_search_preview_calls
                | self.file_search_calls | self.code_interpreter_sessions
                | self.image_generation_calls | self.computer_calls
            )  # fmt: skip
        except TypeError:  # a count that is not an integer: the checks below name it
            counts = -1
        if counts < 0:
            self._check_each()
        if self.audio_seconds < 0:
            raise ValueError("audio_seconds must be >= 0")
        if self.cached_tokens > self.prompt_tokens:
            raise ValueError("cached_tokens cannot exceed prompt_tokens")
        if self.cache_write_tokens and (
            self.cached_tokens + self.cache_write_tokens > self.prompt_tokens
        ):
            raise ValueError("cached_tokens + cache_write_tokens cannot exceed prompt_tokens")
        if self.cached_audio_tokens and self.cached_audio_tokens > min(
            self.cached_tokens, self.audio_prompt_tokens
        ):
            raise ValueError("cached_audio_tokens cannot exceed cached or audio prompt tokens")
        if self.reasoning_tokens > self.completion_tokens:
            raise ValueError("reasoning_tokens cannot exceed completion_tokens")

    def _check_each(self) -> None:
        """Name the first negative count (the slow check, run only when one is)."""
        for name in (
            "prompt_tokens",
            "completion_tokens",
            "cached_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
            "audio_prompt_tokens",
            "cached_audio_tokens",
            "audio_completion_tokens",
            "image_prompt_tokens",
            "image_completion_tokens",
            "characters",
            "images",
            *TOOL_CALL_FIELDS,
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")


# Each field's slot setter, in field order (bypassing the frozen class's ``__setattr__``).
_PUT: tuple[Callable[[Usage, Any], None], ...] = tuple(
    Usage.__dict__[f.name].__set__ for f in fields(Usage)
)


@dataclass(frozen=True, slots=True)
class Cost:
    """A priced request: exact cost (None when unpriced), where it came from, the price used.

    ``note`` says why a cost is not exact: the basis of an estimate, the entry assumed for an
    unlisted snapshot, or why a priced model could not be billed (e.g. no billable units).
    """

    cost_usd: Decimal | None
    cost_source: CostSource
    price_id: str | None = None
    note: str | None = None
