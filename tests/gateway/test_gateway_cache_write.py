"""Prompt-cache writes through the gateway with the official SDK and the mock upstream.

gpt-6-sol (catalog gpt-6-sol@2026-09-22): input $2, cached $0.20, cache write $2.50 (1.25x
input), output $10 per 1M. gpt-5.6 routes to gpt-5.6-sol: $4, cached $0.40, write $5, $20.
gpt-5.5 publishes no cache-write rate: a request that wrote to the cache is ``estimated``.
"""

from __future__ import annotations

from decimal import Decimal

from collector.db import Request
from collector.usage import CACHE_WRITE_NOTE
from tests.gateway._support import Gateway

MILLION = Decimal(1_000_000)
LONG = "the same long instructions for every request " * 300  # > 1,024 prompt tokens
WRITES = {"x-mock-cache-write-tokens": "1024", "x-mock-cached-tokens": "0"}


def _cost(row: Request, rates: tuple[str, str, str, str]) -> Decimal:
    """Tokens at (input, cached, cache write, output) per 1M."""
    inp, cached, write, out = (Decimal(r) for r in rates)
    plain = row.prompt_tokens - row.cached_tokens - row.cache_write_tokens
    return (
        plain * inp + row.cached_tokens * cached + row.cache_write_tokens * write
        + row.completion_tokens * out
    ) / MILLION  # fmt: skip


def test_chat_cache_writes_are_recorded_and_priced(gateway: Gateway) -> None:
    completion = gateway.client().chat.completions.create(
        model="gpt-6-sol",
        messages=[{"role": "user", "content": LONG}],
        extra_headers=WRITES,
    )
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cache_write_tokens == 1024
    row = gateway.only_request()
    assert (row.cache_write_tokens, row.cached_tokens) == (1024, 0)
    assert row.cost_usd == _cost(row, ("2", "0.20", "2.50", "10"))
    assert (row.cost_source, row.cost_note) == ("computed", None)
    # 1,024 tokens at $2.50 instead of $2: $0.000512 more than the input rate would give
    assert row.cost_usd - _cost(row, ("2", "0.20", "2", "10")) == Decimal("0.000512")


def test_a_streamed_responses_call_records_its_writes(gateway: Gateway) -> None:
    stream = gateway.client().responses.create(
        model="gpt-5.6",
        instructions=LONG,
        input="Summarise.",
        stream=True,
        extra_headers={**WRITES, "x-mock-cached-tokens": "128"},
    )
    done = [e for e in stream if e.type == "response.completed"]
    assert done and done[0].response.usage is not None
    assert done[0].response.usage.input_tokens_details.cache_write_tokens == 1024
    row = gateway.only_request()
    assert (row.cache_write_tokens, row.cached_tokens) == (1024, 128)
    assert row.cost_usd == _cost(row, ("4", "0.40", "5", "20"))
    assert row.cost_source == "computed"


def test_streamed_chat_usage_carries_the_writes(gateway: Gateway) -> None:
    stream = gateway.client().chat.completions.create(
        model="gpt-6-sol",
        messages=[{"role": "user", "content": LONG}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=WRITES,
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None
    row = gateway.only_request()
    assert row.cache_write_tokens == 1024
    assert row.cost_usd == _cost(row, ("2", "0.20", "2.50", "10"))


def test_writes_to_a_model_without_a_write_rate_are_estimated(gateway: Gateway) -> None:
    gateway.client().chat.completions.create(
        model="gpt-5.5",
        messages=[{"role": "user", "content": LONG}],
        extra_headers=WRITES,
    )
    row = gateway.only_request()
    assert row.cache_write_tokens == 1024
    assert (row.cost_source, row.cost_note) == ("estimated", CACHE_WRITE_NOTE)
    # gpt-5.5: $5 input, $0.50 cached, $30 output; the writes at the input rate
    assert row.cost_usd == _cost(row, ("5", "0.50", "5", "30"))
