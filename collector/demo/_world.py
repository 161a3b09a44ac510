"""The demo's made-up organisation: projects, their keys, and how each key uses the API.

Plain data, shared by the setup (which creates the keys), the history generator (which gives
each key ~30 days of past traffic) and the live traffic driver. Sizes and mixes are chosen to
look like a small company: a search team heavy on embeddings, a support bot streaming chat
to customers with long cached system prompts, and an analytics team on reasoning models and
an in-house fine-tune nobody has priced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
EMBEDDINGS = "/v1/embeddings"

# Requested name → the dated snapshot OpenAI answers with (and prices by).
SERVED: Mapping[str, str] = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "o4-mini": "o4-mini-2025-04-16",
    "o3-mini": "o3-mini-2025-01-31",
    "text-embedding-3-small": "text-embedding-3-small",
    "text-embedding-3-large": "text-embedding-3-large",
}

# A fine-tune served by a private OpenAI-compatible endpoint: no catalog price (unpriced).
UNPRICED_MODEL = "acme-sql-coder-v2"


@dataclass(frozen=True, slots=True)
class Speed:
    """How a model feels: median time to first token (ms) and output tokens per second."""

    ttft_ms: float
    tokens_per_s: float


SPEEDS: Mapping[str, Speed] = {
    "gpt-4o-mini": Speed(320, 95),
    "gpt-4o": Speed(480, 70),
    "gpt-4.1": Speed(520, 75),
    "gpt-4.1-mini": Speed(300, 110),
    "o4-mini": Speed(1900, 120),
    "o3-mini": Speed(2300, 110),
    "text-embedding-3-small": Speed(90, 0),
    "text-embedding-3-large": Speed(140, 0),
    UNPRICED_MODEL: Speed(650, 60),
}


@dataclass(frozen=True, slots=True)
class Call:
    """One kind of request a key makes, with its share of the key's traffic.

    Token sizes are medians of log-normal draws; ``cached_share`` is the chance that a long
    prompt (≥ 1024 tokens) hits OpenAI's prompt cache; ``reasoning`` marks o-series models.
    ``mode`` is ``"batch"`` for work sent through the Batch API and ``"flex"`` for the flex
    service tier (both billed at about half price; never streamed).
    """

    weight: float
    endpoint: str
    model: str
    prompt_tokens: int
    output_tokens: int = 0
    stream_share: float = 0.0
    cached_share: float = 0.0
    reasoning: bool = False
    feature: str = "default"
    mode: str | None = None


@dataclass(frozen=True, slots=True)
class KeyProfile:
    """A virtual key of the demo and its traffic (weekday requests/day at the window start)."""

    project: str
    name: str
    tags: Mapping[str, str]
    daily_requests: float
    calls: tuple[Call, ...]
    user: str | None = None
    users: tuple[str, ...] = ()  # end users sent per request (x-spendscope-user)
    live: bool = False  # the live traffic driver uses this key


_CUSTOMERS = tuple(f"cust-{n:04d}" for n in (17, 42, 108, 256, 311, 404, 512, 777, 901, 1024))

KEYS: tuple[KeyProfile, ...] = (
    KeyProfile(
        project="search",
        name="search-api",
        tags={"team": "search", "env": "prod"},
        daily_requests=900,
        live=True,
        calls=(
            Call(55, EMBEDDINGS, "text-embedding-3-small", 60, feature="query-embed"),
            Call(30, CHAT, "gpt-4o-mini", 900, 120, 0.5, 0.35, feature="answer"),
            Call(15, RESPONSES, "gpt-4.1-mini", 700, 180, 0.3, 0.2, feature="rerank"),
        ),
    ),
    KeyProfile(
        project="search",
        name="search-indexer",
        tags={"team": "search", "env": "batch"},
        daily_requests=350,
        calls=(
            Call(70, EMBEDDINGS, "text-embedding-3-large", 420, feature="index"),
            Call(30, EMBEDDINGS, "text-embedding-3-large", 420, feature="reindex", mode="batch"),
        ),
    ),
    KeyProfile(
        project="support-bot",
        name="support-bot-prod",
        tags={"team": "support", "env": "prod"},
        daily_requests=1100,
        users=_CUSTOMERS,
        live=True,
        calls=(
            Call(55, CHAT, "gpt-4o-mini", 1800, 160, 0.9, 0.6, feature="chat"),
            Call(30, CHAT, "gpt-4o", 2200, 220, 0.9, 0.55, feature="escalation"),
            Call(10, RESPONSES, "gpt-4.1", 1500, 260, 0.5, 0.4, feature="summary"),
            Call(5, CHAT, "o4-mini", 1300, 300, 0.3, 0.3, True, feature="triage"),
            Call(
                6, CHAT, "gpt-4o-mini", 2400, 250, 0.0, 0.5, feature="ticket-digest", mode="batch"
            ),
        ),
    ),
    KeyProfile(
        project="support-bot",
        name="support-bot-staging",
        tags={"team": "support", "env": "staging"},
        daily_requests=120,
        calls=(Call(100, CHAT, "gpt-4o-mini", 1200, 140, 0.8, 0.3, feature="chat"),),
    ),
    KeyProfile(
        project="analytics",
        name="analytics-notebooks",
        user="alice@acme.example",
        tags={"team": "analytics", "env": "prod"},
        daily_requests=260,
        live=True,
        calls=(
            Call(30, CHAT, "gpt-4.1", 2600, 450, 0.2, 0.3, feature="notebook"),
            Call(30, CHAT, "o3-mini", 1800, 600, 0.1, 0.2, True, feature="sql-reasoning"),
            Call(15, CHAT, "gpt-4o", 1400, 350, 0.2, 0.2, feature="notebook"),
            Call(15, CHAT, UNPRICED_MODEL, 900, 200, 0.0, 0.0, feature="sql-gen"),
            Call(10, EMBEDDINGS, "text-embedding-3-small", 250, feature="catalog"),
        ),
    ),
    KeyProfile(
        project="analytics",
        name="analytics-reports",
        user="bob@acme.example",
        tags={"team": "analytics", "env": "prod"},
        daily_requests=90,
        calls=(
            Call(35, RESPONSES, "o4-mini", 3000, 900, 0.0, 0.4, True, feature="weekly-report"),
            Call(
                25,
                RESPONSES,
                "o4-mini",
                3000,
                900,
                0.0,
                0.4,
                True,
                feature="weekly-report",
                mode="flex",
            ),
            Call(40, CHAT, "gpt-4.1-mini", 2000, 500, 0.0, 0.3, feature="weekly-report"),
        ),
    ),
    KeyProfile(
        project="analytics",
        name="analytics-sandbox",
        user="intern@acme.example",
        tags={"team": "analytics", "env": "sandbox"},
        daily_requests=0,
        live=True,
        calls=(Call(100, CHAT, "gpt-4o", 1200, 200, feature="experiments"),),
    ),
)

PROJECTS: tuple[str, ...] = tuple(dict.fromkeys(k.project for k in KEYS))
