"""What the mock served, kept to answer OpenAI's Costs and Usage APIs truthfully.

Every answered chat, completions, Responses or embeddings request, with the per-call fees of
its built-in tool calls, every image (generations, edits, variations), speech and
transcription, and every code interpreter container created through ``/v1/containers`` (one
session fee) is priced at the catalog's published price (``collector.pricing``, the same engine
the gateway uses) and booked per UTC day, usage endpoint, served model, API key and project,
so a reconciliation of a demo comes out at 100 %. Scripted drift (``MockConfig``) plants the three
kinds of difference a real bill can show: spend on a key the gateway never used, one model
billed at another price, one day missing.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from collector.errors import PricingError
from collector.pricing import container_cost, cost_breakdown, usage_from_api
from collector.usage import Usage

BYPASS_KEY_ID = "key_mock_bypass"
BYPASS_MODEL = "gpt-4o-mini-2024-07-18"
# the Usage API bucket each served endpoint's traffic is reported under
USAGE_OF = {"chat": "completions", "completions": "completions", "responses": "completions",
            "embeddings": "embeddings", "images": "images", "speech": "audio_speeches",
            "transcription": "audio_transcriptions"}  # fmt: skip
SESSIONS = "code_interpreter_sessions"  # the Usage API of containers' session fees
SESSION_PART = "code_interpreter_sessions"  # the cost part of one session fee


def mock_key_id(api_key: str) -> str:
    """The OpenAI-style key id (``key_…``) the mock reports for a bearer key."""
    return "key_" + hashlib.sha256(api_key.encode()).hexdigest()[:16]


@dataclass(slots=True)
class Booked:
    """Usage and money of one (day, endpoint, model, key, project, batch)."""

    input_tokens: int = 0
    input_cached_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    images: int = 0
    characters: int = 0
    seconds: Decimal = Decimal(0)
    sessions: int = 0
    lines: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def add(self, usage: Usage, parts: Mapping[str, Decimal]) -> None:
        self.input_tokens += usage.prompt_tokens
        self.input_cached_tokens += usage.cached_tokens
        self.output_tokens += usage.completion_tokens
        self.requests += 1
        self.images += usage.images
        self.characters += usage.characters
        self.seconds += usage.audio_seconds
        self.sessions += usage.code_interpreter_sessions
        for name, amount in parts.items():
            self.lines[name] += amount


BookKey = tuple[date, str, str, str, str, bool]  # day, usage endpoint, model, key, project, batch


@dataclass(slots=True)
class Ledger:
    """Bookings by day; drift is applied when the bill is read, never to the bookings."""

    project_id: str
    book: dict[BookKey, Booked] = field(default_factory=lambda: defaultdict(Booked))

    def record(
        self, endpoint: str, model: str, usage: Any, api_key: str, at: datetime,
        tools: Mapping[str, Any] | None = None,
    ) -> None:  # fmt: skip
        """Book one answered request (its usage as the wire returned it, or ``{}`` where the
        answer carries none, and what OpenAI bills besides tokens as usage fields: the
        per-call fees of built-in tool calls, images, characters said)."""
        try:
            parsed = replace(usage_from_api(endpoint, usage), **(tools or {}))
            cost, parts = cost_breakdown(parsed, model, at)
        except PricingError:
            return  # usage the pricing engine refuses is not billed by OpenAI either
        amounts = {p.name: p.amount for p in parts} if cost.cost_usd is not None else {}
        key = (at.astimezone(UTC).date(), USAGE_OF[endpoint], model, mock_key_id(api_key),
               self.project_id, False)  # fmt: skip
        self.book[key].add(parsed, amounts)

    def record_session(self, memory_limit: object, api_key: str, at: datetime) -> None:
        """Book one code interpreter container created through ``/v1/containers``: its session
        fee, under no model (a container names none)."""
        cost = container_cost(memory_limit, at)
        if cost.cost_usd is None:
            return  # a size the catalog does not price is not billed here either
        key = (at.astimezone(UTC).date(), SESSIONS, "", mock_key_id(api_key),
               self.project_id, False)  # fmt: skip
        self.book[key].add(Usage(code_interpreter_sessions=1), {SESSION_PART: cost.cost_usd})

    def add_served(
        self, key: BookKey, tokens: tuple[int, int, int], requests: int, usd: Decimal
    ) -> None:
        """Book traffic served before this process started (the demo's history)."""
        booked = self.book[key]
        booked.input_tokens += tokens[0]
        booked.input_cached_tokens += tokens[1]
        booked.output_tokens += tokens[2]
        booked.requests += requests
        booked.lines["tokens"] += usd

    def days(self) -> set[date]:
        return {k[0] for k in self.book}


def bypass_booking(day: date, tokens: int, project_id: str) -> tuple[BookKey, Booked]:
    """Traffic that went around the gateway: ``tokens`` in, a quarter of that out."""
    usage = Usage(prompt_tokens=tokens, completion_tokens=tokens // 4)
    at = datetime.combine(day, time(12), tzinfo=UTC)
    _, parts = cost_breakdown(usage, BYPASS_MODEL, at)
    booked = Booked()
    booked.add(usage, {p.name: p.amount for p in parts})
    return (day, "completions", BYPASS_MODEL, BYPASS_KEY_ID, project_id, False), booked
