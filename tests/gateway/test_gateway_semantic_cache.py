"""The semantic cache through the official SDK: a similar question at or over the threshold
is answered from the cache, one under it goes upstream; every lookup's embeddings call is a
priced row of its own; answers never cross projects; a failing embeddings upstream only
costs the cache its hit."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import openai
from sqlalchemy import func, select

from collector.db import Request, session_scope
from collector.db.models import BudgetCounter
from collector.mock_upstream import MockConfig, run_in_thread
from collector.pricing import compute_cost
from collector.recorder import CACHE_KEY, SIMILARITY_KEY
from collector.usage import Usage
from tests.gateway._support import UPSTREAM_KEY, Gateway, GatewayFactory
from tests.gateway.test_admission_gateway import hard_budget, settled
from tests.support.redis_server import REDIS_URL, require_redis

QUESTION = "What is the capital of France?"
PARAPHRASE = "Which city is the capital of France?"  # cosine 0.8407 with the mock's embeddings
OTHER = "What is the capital of Spain?"  # cosine 0.526
EMBEDDINGS = "/v1/embeddings"


def _semantic(make_gateway: GatewayFactory, threshold: float = 0.8, **settings: Any) -> Gateway:
    return make_gateway(
        cache_enabled=True,
        cache_projects=["*"],
        cache_semantic=True,
        cache_semantic_threshold=threshold,
        **settings,
    )


def _ask(client: openai.OpenAI, question: str, system: str | None = None, **extra: Any) -> Any:
    messages: Any = [{"role": "user", "content": question}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages, temperature=0, **extra
    )


def _chats(gateway: Gateway) -> list[Request]:
    return [r for r in gateway.requests() if r.endpoint != EMBEDDINGS]


def _embeddings(gateway: Gateway) -> list[Request]:
    return [r for r in gateway.requests() if r.endpoint == EMBEDDINGS]


def test_a_similar_question_at_the_threshold_is_answered_from_the_cache(
    make_gateway: GatewayFactory,
) -> None:
    gateway = _semantic(make_gateway, threshold=0.84)
    client = gateway.client(gateway.key(project="acme"))
    first = _ask(client, QUESTION)
    second = _ask(client, PARAPHRASE)
    assert first.headers.get("x-spendscope-cache") is None
    assert second.headers["x-spendscope-cache"] == "hit"
    assert float(second.headers["x-spendscope-cache-similarity"]) >= 0.84
    assert second.parse().id == first.parse().id  # the answer replayed, not asked again
    original, hit = _chats(gateway)
    assert (hit.outcome, hit.cache_hit, hit.price_id) == ("cache_hit", True, "cache:semantic")
    assert hit.cost_usd == 0 and hit.saved_usd == original.cost_usd
    assert hit.metadata_[CACHE_KEY] == "semantic_hit"
    assert 0.84 <= hit.metadata_[SIMILARITY_KEY] < 1
    assert hit.attempt_count == 0


def test_a_question_under_the_threshold_goes_upstream(make_gateway: GatewayFactory) -> None:
    gateway = _semantic(make_gateway, threshold=0.85)
    client = gateway.client(gateway.key(project="acme"))
    first = _ask(client, QUESTION)
    second = _ask(client, PARAPHRASE)  # 0.8407 < 0.85
    third = _ask(client, OTHER)
    assert second.headers.get("x-spendscope-cache") is None
    assert third.headers.get("x-spendscope-cache") is None
    assert len({first.parse().id, second.parse().id, third.parse().id}) == 3
    assert [r.outcome for r in _chats(gateway)] == ["success"] * 3


def test_each_lookup_is_a_priced_embeddings_request_of_the_same_key(
    make_gateway: GatewayFactory,
) -> None:
    gateway = _semantic(make_gateway)
    client = gateway.client(gateway.key(project="acme"))
    _ask(client, QUESTION, extra_headers={"x-spendscope-tags": "team=search"})
    _ask(client, PARAPHRASE)
    chat = _chats(gateway)[0]
    rows = _embeddings(gateway)
    assert len(rows) == 2  # one per lookup; the exact hit path never embeds
    for row in rows:
        assert (row.outcome, row.http_status, row.cost_source) == ("success", 200, "computed")
        assert row.model_requested == "text-embedding-3-small"
        assert (row.api_key_id, row.project_id) == (chat.api_key_id, chat.project_id)
        assert row.metadata_[CACHE_KEY] == "semantic_embedding"
        assert row.prompt_tokens > 0 and row.completion_tokens == 0
        expected = compute_cost(
            Usage(prompt_tokens=row.prompt_tokens), "text-embedding-3-small", row.started_at
        )
        assert expected.cost_usd is not None and expected.cost_usd > 0
        assert row.cost_usd == expected.cost_usd
    assert rows[0].tags == {"team": "search"}  # attributed like the request that asked


def test_each_lookups_cost_is_booked_on_the_hard_budget(make_gateway: GatewayFactory) -> None:
    """The hard budget's counter, which admission reads, holds every dollar its requests
    caused: the answered question and both lookups (the second request a hit that cost
    nothing else). Each request settles on its own (no lease holds spend back)."""
    gateway = _semantic(make_gateway, budget_cache_ttl_s=0.01, budget_lease_requests=0)
    hard_budget(gateway.engine, Decimal(10))
    client = gateway.client(gateway.key(project="acme"))
    _ask(client, QUESTION)
    assert _ask(client, PARAPHRASE).headers["x-spendscope-cache"] == "hit"
    settled(gateway)
    rows = gateway.requests()
    assert len(_embeddings(gateway)) == 2 and all(r.cost_usd for r in _embeddings(gateway))
    with session_scope(gateway.engine) as session:
        booked = session.scalar(select(func.sum(BudgetCounter.spent_usd)))
    assert booked == sum(r.cost_usd or 0 for r in rows)


def test_an_exact_repeat_is_an_exact_hit_without_an_embedding(
    make_gateway: GatewayFactory,
) -> None:
    gateway = _semantic(make_gateway)
    client = gateway.client(gateway.key(project="acme"))
    _ask(client, QUESTION)
    again = _ask(client, QUESTION)
    assert again.headers["x-spendscope-cache"] == "hit"
    assert "x-spendscope-cache-similarity" not in again.headers
    assert _chats(gateway)[1].price_id == "cache:hit"
    assert len(_embeddings(gateway)) == 1


def test_one_project_never_reads_another_projects_similar_answer(
    make_gateway: GatewayFactory,
) -> None:
    gateway = _semantic(make_gateway)
    acme = gateway.client(gateway.key(project="acme"))
    rival = gateway.client(gateway.key(project="rival"))
    _ask(acme, QUESTION)
    assert _ask(rival, PARAPHRASE).headers.get("x-spendscope-cache") is None
    assert _ask(acme, PARAPHRASE).headers["x-spendscope-cache"] == "hit"


def test_shared_answers_cross_projects_only_when_configured(make_gateway: GatewayFactory) -> None:
    gateway = _semantic(make_gateway, cache_shared_across_projects=True)
    _ask(gateway.client(gateway.key(project="acme")), QUESTION)
    raw = _ask(gateway.client(gateway.key(project="rival")), PARAPHRASE)
    assert raw.headers["x-spendscope-cache"] == "hit"


def test_other_parameters_and_earlier_messages_must_match(make_gateway: GatewayFactory) -> None:
    gateway = _semantic(make_gateway)
    client = gateway.client(gateway.key(project="acme"))
    _ask(client, QUESTION, system="Answer in French.")
    assert (
        _ask(client, PARAPHRASE, system="Answer in German.").headers.get("x-spendscope-cache")
        is None
    )
    assert (
        _ask(client, PARAPHRASE, system="Answer in French.", max_tokens=5).headers.get(
            "x-spendscope-cache"
        )
        is None
    )
    hit = _ask(client, PARAPHRASE, system="Answer in French.")
    assert hit.headers["x-spendscope-cache"] == "hit"


def test_a_stream_is_replayed_from_a_similar_streamed_answer(
    make_gateway: GatewayFactory,
) -> None:
    gateway = _semantic(make_gateway)
    client = gateway.client(gateway.key(project="acme"))
    texts = []
    for question in (QUESTION, PARAPHRASE):
        raw = _ask(client, question, stream=True)
        with raw.parse() as stream:
            chunks = list(stream)
        texts.append("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
    assert raw.headers["x-spendscope-cache"] == "hit"
    assert texts[0] == texts[1] and texts[0]


def test_a_failing_embeddings_upstream_costs_only_the_hit(make_gateway: GatewayFactory) -> None:
    gateway = _semantic(
        make_gateway,
        upstreams={"dead": "http://127.0.0.1:9/v1"},
        upstream_routes={"text-embedding-*": "dead"},
        max_attempts=1,
    )
    client = gateway.client(gateway.key(project="acme"))
    first, second = _ask(client, QUESTION), _ask(client, PARAPHRASE)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.headers.get("x-spendscope-cache") is None
    assert [r.outcome for r in _chats(gateway)] == ["success", "success"]
    failed = _embeddings(gateway)
    assert [r.outcome for r in failed] == ["upstream_error", "upstream_error"]
    assert all(r.cost_usd == 0 and r.metadata_[CACHE_KEY] == "semantic_embedding" for r in failed)


def test_a_slow_embeddings_upstream_is_given_up_on(make_gateway: GatewayFactory) -> None:
    with run_in_thread(MockConfig(require_key=UPSTREAM_KEY, latency_ms=3000)) as slow:
        gateway = _semantic(
            make_gateway,
            upstreams={"slow": slow},
            upstream_routes={"text-embedding-*": "slow"},
            cache_semantic_timeout_s=0.2,
        )
        client = gateway.client(gateway.key(project="acme"))
        raw = _ask(client, QUESTION)
        assert raw.status_code == 200 and raw.headers.get("x-spendscope-cache") is None
        (row,) = _embeddings(gateway)
    assert (row.outcome, row.error_type) == ("timeout", "timeout")
    assert row.cost_usd == Decimal(0)


def test_a_client_cannot_mark_its_own_request_as_the_caches(gateway: Gateway) -> None:
    forged = f'{{"{CACHE_KEY}": "semantic_embedding", "note": "x"}}'
    _ask(gateway.client(), QUESTION, extra_headers={"x-spendscope-metadata": forged})
    row = gateway.only_request()
    assert CACHE_KEY not in row.metadata_ and row.metadata_["note"] == "x"


def test_redis_keeps_questions_for_every_gateway_process(make_gateway: GatewayFactory) -> None:
    require_redis()
    settings: dict[str, Any] = {
        "redis_url": REDIS_URL,
        "redis_key_prefix": f"test-{uuid.uuid4().hex}",
    }
    one, two = _semantic(make_gateway, **settings), _semantic(make_gateway, **settings)
    key = one.key(project="acme")
    first = _ask(one.client(key), QUESTION)
    second = _ask(two.client(key), PARAPHRASE)
    assert second.headers["x-spendscope-cache"] == "hit"
    assert second.parse().id == first.parse().id


def test_a_legacy_completion_prompt_is_compared_too(make_gateway: GatewayFactory) -> None:
    gateway = _semantic(make_gateway)
    client = gateway.client(gateway.key(project="acme"))
    answers = [
        client.completions.with_raw_response.create(
            model="gpt-3.5-turbo-instruct", prompt=prompt, max_tokens=7, temperature=0
        )
        for prompt in (QUESTION, PARAPHRASE)
    ]
    assert answers[1].headers["x-spendscope-cache"] == "hit"
    assert answers[1].parse().id == answers[0].parse().id
