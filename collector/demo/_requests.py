"""The live demo's kinds of requests, made with the official ``openai`` SDK (pure data + calls).

Each kind is one realistic use: a search answer, a support-bot stream (with and without
``include_usage``, behind a long system prompt that the mock caches on repeat), Responses API
calls, embeddings, an o-series reasoning call, a typo'd model name (a client error) and a
sandbox key that a tiny hard budget caps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from openai import AsyncOpenAI

from collector.demo._world import SERVED
from collector.pricing import compute_cost
from collector.usage import Usage

# ~1,500 tokens, identical on every call, so upstream's prompt cache applies (≥ 1024 tokens).
SUPPORT_PROMPT = "You are Acme's support assistant. Follow the policy below.\n" + "\n".join(
    f"Policy {n}: answer politely, cite the help-centre article for topic {n}, never promise "
    f"refunds above the plan limit, escalate billing disputes and outages to a human agent."
    for n in range(1, 61)
)
QUESTIONS = (
    "How do I reset my password?",
    "Why was I charged twice this month?",
    "Can I export my dashboards to PDF?",
    "The app shows error 502 since this morning.",
    "How do I add a teammate to my workspace?",
)
NOMINAL_OUTPUT_TOKENS = 32  # the mock answers 12..51 visible tokens
NOMINAL_REASONING_TOKENS = 160  # and 64..256 reasoning tokens on o-series


@dataclass(frozen=True, slots=True)
class Ask:
    """One request to make: its SDK call, and the headers that attribute it (and fault it)."""

    client: AsyncOpenAI
    question: str
    headers: dict[str, str]


Run = Callable[[Ask], Awaitable[None]]


async def chat(ask: Ask) -> None:
    await ask.client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": ask.question}],
        max_tokens=200,
        extra_headers=ask.headers,
    )


async def support_stream(ask: Ask, model: str, include_usage: bool) -> None:
    stream = await ask.client.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": SUPPORT_PROMPT},
            {"role": "user", "content": ask.question},
        ],
        stream=True,
        stream_options={"include_usage": True} if include_usage else None,
        extra_headers=ask.headers,
    )
    async for _chunk in stream:
        pass


async def stream_with_usage(ask: Ask) -> None:
    await support_stream(ask, "gpt-4o-mini", include_usage=True)


async def stream_without_usage(ask: Ask) -> None:
    await support_stream(ask, "gpt-4o", include_usage=False)


async def responses(ask: Ask) -> None:
    await ask.client.responses.create(
        model="gpt-4.1-mini", input=ask.question, max_output_tokens=300, extra_headers=ask.headers
    )


async def responses_stream(ask: Ask) -> None:
    stream = await ask.client.responses.create(
        model="gpt-4.1", input=ask.question, stream=True, extra_headers=ask.headers
    )
    async for _event in stream:
        pass


async def embeddings(ask: Ask) -> None:
    await ask.client.embeddings.create(
        model="text-embedding-3-small",
        input=[ask.question, *QUESTIONS[:2]],
        extra_headers=ask.headers,
    )


async def reasoning(ask: Ask) -> None:
    await ask.client.chat.completions.create(
        model="o4-mini",
        messages=[{"role": "user", "content": f"Write SQL for: {ask.question}"}],
        max_completion_tokens=1200,
        extra_headers=ask.headers,
    )


async def typo_model(ask: Ask) -> None:
    """A caller's mistake: upstream answers 404 model_not_found (a client error)."""
    await ask.client.chat.completions.create(
        model="gtp-4o-mini",
        messages=[{"role": "user", "content": ask.question}],
        extra_headers=ask.headers,
    )


async def sandbox(ask: Ask) -> None:
    await ask.client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": SUPPORT_PROMPT},
            {"role": "user", "content": ask.question},
        ],
        extra_headers=ask.headers,
    )


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of live request: weight, key used, streamed or not, and a cost estimate input."""

    name: str
    weight: float
    key: str
    run: Run
    model: str
    prompt_tokens: int
    stream: bool = False


_LONG = len(SUPPORT_PROMPT) // 4
KINDS: tuple[Kind, ...] = (
    Kind("chat", 18, "search-api", chat, "gpt-4o-mini", 20),
    Kind("stream+usage", 20, "support-bot-prod", stream_with_usage, "gpt-4o-mini", _LONG, True),
    Kind("stream", 14, "support-bot-prod", stream_without_usage, "gpt-4o", _LONG, True),
    Kind("responses", 10, "search-api", responses, "gpt-4.1-mini", 20),
    Kind("responses-stream", 5, "support-bot-prod", responses_stream, "gpt-4.1", 20, True),
    Kind("embeddings", 16, "search-api", embeddings, "text-embedding-3-small", 30),
    Kind("reasoning", 8, "analytics-notebooks", reasoning, "o4-mini", 25),
    Kind("typo", 2, "analytics-notebooks", typo_model, "gtp-4o-mini", 20),
    Kind("sandbox", 7, "analytics-sandbox", sandbox, "gpt-4o", _LONG),
)


def expected_cost(at: datetime) -> Decimal:
    """Average catalog cost of one live request (before prompt caching), for sizing budgets."""
    total = Decimal(0)
    for kind in KINDS:
        served = SERVED.get(kind.model)
        if served is None:
            continue
        output = 0 if kind.run is embeddings else NOMINAL_OUTPUT_TOKENS
        reasoning = NOMINAL_REASONING_TOKENS if kind.model.startswith("o") else 0
        usage = Usage(
            prompt_tokens=kind.prompt_tokens,
            completion_tokens=output + reasoning,
            reasoning_tokens=reasoning,
        )
        cost = compute_cost(usage, served, at).cost_usd or Decimal(0)
        total += cost * Decimal(kind.weight)
    return total / Decimal(sum(k.weight for k in KINDS))
