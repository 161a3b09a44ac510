"""The response cache through the official SDK: off by default, opt-in per project, key or
request, deterministic requests only, JSON and SSE replay, hits recorded with their saving,
and answers that never cross projects."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import openai
import pytest
from sqlalchemy import select

from collector.db import ApiKey, session_scope
from collector.mock_upstream import MockConfig, run_in_thread
from tests.gateway._support import UPSTREAM_KEY, Gateway, GatewayFactory
from tests.support.redis_server import REDIS_URL, require_redis

MESSAGES: Any = [{"role": "user", "content": "What is the capital of France?"}]


def _ask(client: openai.OpenAI, **extra: Any) -> tuple[Any, Any]:
    """(parsed completion, raw response) of a deterministic chat request."""
    extra.setdefault("temperature", 0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, **extra
    )
    return raw.parse(), raw


def _cached(make_gateway: GatewayFactory, **settings: Any) -> Gateway:
    return make_gateway(cache_enabled=True, cache_projects=["acme"], **settings)


def test_the_cache_is_off_by_default(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(cache_projects=["acme"])
    client = gateway.client(gateway.key(project="acme"))
    first, _ = _ask(client)
    second, raw = _ask(client, extra_headers={"x-spendscope-cache": "on"})
    assert raw.headers.get("x-spendscope-cache") is None
    assert second.id != first.id  # asked upstream again
    assert [r.outcome for r in gateway.requests()] == ["success", "success"]


def test_a_hit_replays_the_answer_and_records_its_saving(make_gateway: GatewayFactory) -> None:
    gateway = _cached(make_gateway)
    client = gateway.client(gateway.key(project="acme"))
    first, raw1 = _ask(client)
    second, raw2 = _ask(client)
    assert raw1.headers.get("x-spendscope-cache") is None
    assert raw2.headers["x-spendscope-cache"] == "hit"
    assert second.model_dump() == first.model_dump()  # the same id: replayed, not re-asked
    original, hit = gateway.requests()
    assert (original.outcome, original.cache_hit, original.saved_usd) == ("success", False, None)
    assert original.cost_usd is not None and original.cost_usd > 0
    assert (hit.outcome, hit.cache_hit, hit.http_status) == ("cache_hit", True, 200)
    assert (hit.cost_usd, hit.cost_source, hit.price_id) == (Decimal(0), "computed", "cache:hit")
    assert hit.saved_usd == original.cost_usd
    assert raw2.headers["x-spendscope-saved-usd"] == str(original.cost_usd)
    assert raw2.headers["x-spendscope-cached-request-id"] == original.id
    assert raw2.headers["x-spendscope-cost-usd"] == "0"
    assert hit.attempt_count == 0 and hit.model_served == original.model_served


def test_only_deterministic_requests_are_cached(make_gateway: GatewayFactory) -> None:
    gateway = _cached(make_gateway)
    client = gateway.client(gateway.key(project="acme"))
    for _ in range(2):
        _ask(client, temperature=0.7)
    _ask(client, temperature=0.7, seed=42)
    _, raw = _ask(client, temperature=0.7, seed=42)
    assert raw.headers["x-spendscope-cache"] == "hit"
    outcomes = [r.outcome for r in gateway.requests()]
    assert outcomes == ["success", "success", "success", "cache_hit"]


def test_a_stream_of_several_choices_is_never_cached(make_gateway: GatewayFactory) -> None:
    gateway = _cached(make_gateway)
    client = gateway.client(gateway.key(project="acme"))
    for _ in range(2):
        with client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, temperature=0, n=2, stream=True
        ).parse() as stream:
            list(stream)
    assert [r.outcome for r in gateway.requests()] == ["success", "success"]


def test_the_header_opts_in_out_and_refreshes(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(cache_enabled=True, cache_projects=["acme"])
    acme = gateway.client(gateway.key(project="acme"))
    _ask(acme)
    _, off = _ask(acme, extra_headers={"x-spendscope-cache": "off"})
    _, refresh = _ask(acme, extra_headers={"x-spendscope-cache": "refresh"})
    _, hit = _ask(acme)
    assert off.headers.get("x-spendscope-cache") is None
    assert refresh.headers.get("x-spendscope-cache") is None
    assert hit.headers["x-spendscope-cache"] == "hit"
    rows = gateway.requests()
    assert [r.outcome for r in rows] == ["success", "success", "success", "cache_hit"]
    assert rows[3].saved_usd == rows[2].cost_usd  # the refreshed answer is the one served
    other = gateway.client(gateway.key(project="other"))  # not opted in
    _ask(other)
    _, plain = _ask(other)
    assert plain.headers.get("x-spendscope-cache") is None
    _ask(other, extra_headers={"x-spendscope-cache": "on"})
    _, asked = _ask(other, extra_headers={"x-spendscope-cache": "on"})
    assert asked.headers["x-spendscope-cache"] == "hit"


def test_a_bad_header_value_is_a_400_naming_it(make_gateway: GatewayFactory) -> None:
    gateway = _cached(make_gateway)
    client = gateway.client(gateway.key(project="acme"))
    with pytest.raises(openai.BadRequestError, match="x-spendscope-cache must be one of"):
        _ask(client, extra_headers={"x-spendscope-cache": "always"})
    assert gateway.only_request().outcome == "client_error"


def test_opt_in_by_key_prefix(make_gateway: GatewayFactory) -> None:
    first = make_gateway()
    key, neighbour = first.key(project="acme"), first.key(project="acme")
    with session_scope(first.engine) as session:
        prefix = session.scalars(select(ApiKey.prefix).order_by(ApiKey.id)).first()
    assert prefix is not None and key.startswith(prefix)
    first.server.stop()
    gateway = make_gateway(cache_enabled=True, cache_keys=[prefix])
    client = gateway.client(key)
    _ask(client)
    _, hit = _ask(client)
    assert hit.headers["x-spendscope-cache"] == "hit"
    _ask(gateway.client(neighbour))  # the same project, another key: not opted in
    _, miss = _ask(gateway.client(neighbour))
    assert miss.headers.get("x-spendscope-cache") is None


def test_one_project_never_reads_another_projects_answer(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(cache_enabled=True, cache_projects=["*"])
    alpha = gateway.client(gateway.key(project="alpha"))
    beta = gateway.client(gateway.key(project="beta"))
    first, _ = _ask(alpha)
    answer, raw = _ask(beta)
    assert raw.headers.get("x-spendscope-cache") is None
    assert answer.id != first.id
    _, again = _ask(alpha)
    assert again.headers["x-spendscope-cache"] == "hit"
    rows = gateway.requests()
    assert [r.outcome for r in rows] == ["success", "success", "cache_hit"]
    assert rows[2].project_id == rows[0].project_id != rows[1].project_id


def _stream_text(client: openai.OpenAI, **extra: Any) -> tuple[str, list[Any], Any]:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, temperature=0, stream=True, **extra
    )
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks, raw


def test_a_stream_is_replayed_as_sse_with_usage_only_when_asked(
    make_gateway: GatewayFactory,
) -> None:
    gateway = _cached(make_gateway)
    client = gateway.client(gateway.key(project="acme"))
    text, chunks, _ = _stream_text(client)
    assert all(c.usage is None for c in chunks)
    replayed, hit_chunks, hit = _stream_text(client)
    assert hit.headers["x-spendscope-cache"] == "hit"
    assert hit.headers["content-type"].startswith("text/event-stream")
    assert replayed == text and len(text) > 0
    assert [c.id for c in hit_chunks] == [c.id for c in chunks]
    assert all(c.usage is None for c in hit_chunks)
    _, with_usage, _ = _stream_text(client, stream_options={"include_usage": True})
    assert with_usage[-1].usage is not None and with_usage[-1].usage.total_tokens > 0
    rows = gateway.requests()
    assert [(r.outcome, r.stream) for r in rows] == [
        ("success", True), ("cache_hit", True), ("cache_hit", True),
    ]  # fmt: skip
    assert rows[1].saved_usd == rows[2].saved_usd == rows[0].cost_usd
    assert rows[1].ttft_ms is not None


def test_a_json_answer_is_not_replayed_to_a_stream(make_gateway: GatewayFactory) -> None:
    gateway = _cached(make_gateway)
    client = gateway.client(gateway.key(project="acme"))
    _ask(client)
    _, _, raw = _stream_text(client)
    assert raw.headers.get("x-spendscope-cache") is None


def test_embeddings_are_cached(make_gateway: GatewayFactory) -> None:
    gateway = _cached(make_gateway)
    client = gateway.client(gateway.key(project="acme"))
    first = client.embeddings.create(model="text-embedding-3-small", input="cache me")
    raw = client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="cache me"
    )
    assert raw.headers["x-spendscope-cache"] == "hit"
    assert raw.parse().data[0].embedding == first.data[0].embedding


def test_the_redis_store_serves_hits_across_gateway_processes(
    make_gateway: GatewayFactory,
) -> None:
    require_redis()
    settings = {"redis_url": REDIS_URL, "redis_key_prefix": f"test-{uuid.uuid4().hex}"}
    one = _cached(make_gateway, **settings)
    two = _cached(make_gateway, **settings)
    key = one.key(project="acme")
    first, _ = _ask(one.client(key))
    second, raw = _ask(two.client(key))
    assert raw.headers["x-spendscope-cache"] == "hit"
    assert second.id == first.id


def test_answers_over_the_entry_bound_are_not_cached(make_gateway: GatewayFactory) -> None:
    gateway = _cached(make_gateway, cache_max_entry_bytes=64)
    client = gateway.client(gateway.key(project="acme"))
    _ask(client)
    _, raw = _ask(client)
    _stream_text(client)
    _, _, streamed = _stream_text(client)
    assert raw.headers.get("x-spendscope-cache") is None
    assert streamed.headers.get("x-spendscope-cache") is None
    assert [r.outcome for r in gateway.requests()] == ["success"] * 4


def test_a_hit_records_the_provider_and_upstream_that_served_the_answer(
    make_gateway: GatewayFactory,
) -> None:
    with run_in_thread(MockConfig(require_key=UPSTREAM_KEY, provider="anthropic")) as claude:
        gateway = _cached(
            make_gateway,
            upstreams={"claude": claude},
            upstream_routes={"claude-*": "claude"},
            upstream_providers={"claude": "anthropic"},
        )
        client = gateway.client(gateway.key(project="acme"))
        for _ in range(2):
            raw = client.chat.completions.with_raw_response.create(
                model="claude-sonnet-4-5", messages=MESSAGES, temperature=0
            )
        assert raw.headers["x-spendscope-cache"] == "hit"
    original, hit = gateway.requests()
    assert (original.provider, original.upstream) == ("anthropic", "claude")
    assert (hit.outcome, hit.provider, hit.upstream) == ("cache_hit", "anthropic", "claude")
    assert hit.saved_usd == original.cost_usd and hit.attempt_count == 0
