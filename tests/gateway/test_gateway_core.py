"""The core path with the official SDK: relay, usage, cost and the rows recorded for it.

These run on SQLite and, when configured, PostgreSQL (``gateway_on`` uses ``migrated_url``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from collector.pricing import compute_cost
from collector.usage import Usage
from tests.gateway._support import Gateway, GatewayFactory, scenario

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say something short."}]


def test_chat_completion_is_relayed_priced_and_recorded(gateway_on: GatewayFactory) -> None:
    gw = gateway_on()
    key = gw.key(project="acme")
    raw = gw.client(key).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, user="alice"
    )
    completion = raw.parse()
    assert completion.usage is not None and completion.choices[0].message.content
    row = gw.only_request()
    assert raw.headers["x-spendscope-request-id"] == row.id
    assert raw.headers["x-request-id"] == row.upstream_request_id
    assert raw.headers["x-ratelimit-limit-requests"]
    assert (row.outcome, row.http_status, row.endpoint) == ("success", 200, "/v1/chat/completions")
    assert (row.model_requested, row.model_served) == ("gpt-4o-mini", completion.model)
    assert row.prompt_tokens == completion.usage.prompt_tokens
    assert row.completion_tokens == completion.usage.completion_tokens
    assert row.end_user == "alice" and row.api_key_id is not None and row.project_id is not None
    expected = compute_cost(
        Usage(completion.usage.prompt_tokens, completion.usage.completion_tokens),
        completion.model,
        row.started_at,
    )
    assert row.cost_source == "computed" and row.cost_usd == expected.cost_usd
    assert Decimal(raw.headers["x-spendscope-cost-usd"]) == row.cost_usd
    (attempt,) = gw.attempts(row.id)
    assert (attempt.http_status, attempt.model, attempt.upstream) == (200, "gpt-4o-mini", "default")
    assert attempt.cost_usd == row.cost_usd
    assert key not in repr(vars(row)) and key not in repr(vars(attempt))


def test_retry_after_429_then_success(gateway_on: GatewayFactory) -> None:
    gw = gateway_on()
    raw = gw.client().chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        extra_headers={**scenario(), "x-mock-fault": "429@0.01,ok"},
    )
    row = gw.request(raw.headers["x-spendscope-request-id"])
    assert (row.outcome, row.http_status, row.attempt_count) == ("success", 200, 2)
    first, second = gw.attempts(row.id)
    assert (first.http_status, first.error_type) == (429, "rate_limit_exceeded")
    assert first.cost_usd is None and first.completion_tokens == 0
    assert (second.http_status, second.error_type) == (200, None)
    assert second.cost_usd == row.cost_usd and row.cost_usd is not None


def test_retries_exhausted_pass_the_upstream_error_through(gateway_on: GatewayFactory) -> None:
    gw = gateway_on(max_attempts=2)
    with pytest.raises(openai.InternalServerError) as caught:
        gw.client().chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            extra_headers={**scenario(), "x-mock-fault": "500"},
        )
    assert caught.value.status_code == 500
    assert "server had an error" in caught.value.message
    row = gw.only_request()
    assert (row.outcome, row.http_status, row.attempt_count) == ("upstream_error", 500, 2)
    assert row.cost_source == "computed" and row.cost_usd == Decimal(0)
    assert [a.http_status for a in gw.attempts(row.id)] == [500, 500]


def test_streamed_chat_without_include_usage_looks_like_openai(gateway_on: GatewayFactory) -> None:
    gw = gateway_on()
    with gw.client().chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ) as response:
        request_id = response.headers["x-spendscope-request-id"]
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert not any('"usage"' in line for line in lines)  # no usage chunk, no "usage":null
    text = "".join(_delta_texts(lines))
    row = gw.request(request_id)
    assert (row.outcome, row.stream, row.cost_source) == ("success", True, "computed")
    assert row.completion_tokens > 0 and row.prompt_tokens > 0 and text
    assert row.ttft_ms is not None and 0 < row.ttft_ms <= row.duration_ms


def _delta_texts(lines: list[str]) -> list[str]:
    import json

    out = []
    for line in lines[:-1]:
        chunk = json.loads(line.removeprefix("data: "))
        for choice in chunk["choices"]:
            out.append(choice["delta"].get("content") or "")
    return out


def test_streamed_chat_with_include_usage_gets_the_usage_chunk(gateway_on: GatewayFactory) -> None:
    gw = gateway_on()
    stream = gw.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    final = chunks[-1]
    assert final.choices == [] and final.usage is not None
    row = gw.only_request()
    assert row.prompt_tokens == final.usage.prompt_tokens
    assert row.completion_tokens == final.usage.completion_tokens
    expected = compute_cost(
        Usage(final.usage.prompt_tokens, final.usage.completion_tokens),
        final.model,
        row.started_at,
    )
    assert row.cost_usd == expected.cost_usd and row.cost_source == "computed"


async def test_async_client_chat_and_stream(gateway_on: GatewayFactory) -> None:
    gw = gateway_on()
    client = gw.async_client()
    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    chunks = [chunk async for chunk in stream]
    await client.close()
    assert completion.usage is not None and chunks
    rows = gw.requests()
    assert [(r.stream, r.outcome) for r in rows] == [(False, "success"), (True, "success")]
    assert rows[0].completion_tokens == completion.usage.completion_tokens
    assert all(r.cost_usd is not None and r.cost_usd > 0 for r in rows)


def test_price_follows_the_serving_model_at_request_time(gateway_on: GatewayFactory) -> None:
    gw = gateway_on()
    before = datetime.now(UTC)
    gw.client().embeddings.create(model="text-embedding-3-small", input=["one", "two three"])
    row = gw.only_request()
    assert row.started_at >= before.replace(microsecond=0)
    assert row.model_served == "text-embedding-3-small" and row.completion_tokens == 0
    usage = Usage(prompt_tokens=row.prompt_tokens)
    assert row.prompt_tokens > 0
    assert row.cost_usd == compute_cost(usage, "text-embedding-3-small", row.started_at).cost_usd


def test_a_new_price_override_prices_requests_once_refreshed(gateway: Gateway) -> None:
    from collector.db import session_scope
    from collector.pricing import PriceOverride, add_override

    client = gateway.client()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # plans resolved
    runtime = gateway.server.runtime
    before = runtime.overrides
    gateway.server.run(runtime.refresh_overrides())
    assert runtime.overrides is before  # unchanged: the same tuple, the remembered rates stay
    since = datetime(2020, 1, 1, tzinfo=UTC)
    deal = PriceOverride("gpt-4o-mini*", since, input_per_1m=Decimal(1), output_per_1m=Decimal(3))
    with session_scope(gateway.engine) as session:
        deal = add_override(session, deal)
    gateway.server.run(runtime.refresh_overrides())
    assert runtime.overrides == (deal,)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    usage = raw.parse().usage
    assert usage is not None
    row = gateway.request(raw.headers["x-spendscope-request-id"])
    # per 1M tokens: prompt × $1 + completion × $3
    expected = (Decimal(usage.prompt_tokens) * 1 + Decimal(usage.completion_tokens) * 3) / 10**6
    assert row.cost_usd == expected and (row.price_id or "").endswith(f"+override:{deal.id}")
    assert Decimal(raw.headers["x-spendscope-cost-usd"]) == row.cost_usd
