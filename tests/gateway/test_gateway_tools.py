"""Built-in tool calls through the gateway with the official SDK: counted, priced per call.

gpt-5 rates (gpt-5-2025-08-07@2025-08-07): input $1.25, cached $0.125, output $10 per 1M.
Tool fees (catalog ``tools``): web_search $10/1K calls; web_search_preview $10/1K for
reasoning models, $25/1K otherwise; file_search $2.50/1K; code interpreter $0.03 a container.
"""

from __future__ import annotations

from decimal import Decimal

from collector.db import Request
from tests.gateway._support import Gateway

MILLION = Decimal(1_000_000)


def _gpt5_tokens(row: Request) -> Decimal:
    uncached = row.prompt_tokens - row.cached_tokens
    return (
        uncached * Decimal("1.25") + row.cached_tokens * Decimal("0.125")
        + row.completion_tokens * Decimal(10)
    ) / MILLION  # fmt: skip


def test_two_web_searches_on_gpt5_add_two_call_fees(gateway: Gateway) -> None:
    response = gateway.client().responses.create(
        model="gpt-5",
        input="What changed in the news today?",
        tools=[{"type": "web_search"}],
        extra_headers={"x-mock-tool-calls": "2"},
    )
    assert [item.type for item in response.output].count("web_search_call") == 2
    row = gateway.only_request()
    assert (row.web_search_calls, row.web_search_preview_calls) == (2, 0)
    # the tokens, plus 2 calls × $0.01
    assert row.cost_usd == _gpt5_tokens(row) + Decimal("0.02")
    assert row.cost_source == "computed"


def test_streamed_tools_are_counted_from_the_completed_response(gateway: Gateway) -> None:
    stream = gateway.client().responses.create(
        model="gpt-5",
        input="Look it up and compute it.",
        tools=[
            {"type": "web_search_preview"},
            {"type": "file_search", "vector_store_ids": ["vs_1"]},
            {"type": "code_interpreter", "container": {"type": "auto"}},
        ],
        extra_headers={"x-mock-tool-calls": "2"},
        stream=True,
    )
    kinds = [e.type for e in stream]
    assert kinds[-1] == "response.completed"
    row = gateway.only_request()
    counts = (row.web_search_preview_calls, row.file_search_calls, row.code_interpreter_sessions)
    assert counts == (2, 2, 1)  # both code interpreter calls ran in one container
    # 2 × $0.01 (preview, reasoning model) + 2 × $0.0025 + 1 × $0.03 = $0.055
    assert row.cost_usd == _gpt5_tokens(row) + Decimal("0.055")


def test_web_search_preview_on_a_non_reasoning_model(gateway: Gateway) -> None:
    gateway.client().responses.create(
        model="gpt-4.1", input="Search, please.", tools=[{"type": "web_search_preview"}]
    )
    row = gateway.only_request()
    tokens = (
        (row.prompt_tokens - row.cached_tokens) * Decimal(2)
        + row.cached_tokens * Decimal("0.5") + row.completion_tokens * Decimal(8)
    ) / MILLION  # fmt: skip
    assert row.web_search_preview_calls == 1
    assert row.cost_usd == tokens + Decimal("0.025")  # $25 per 1K calls


def test_image_generation_and_computer_calls_are_recorded(gateway: Gateway) -> None:
    gateway.client().responses.create(
        model="gpt-5",
        input="Draw it.",
        tools=[{"type": "image_generation", "quality": "low", "size": "1024x1024"}],
    )
    row = gateway.only_request()
    assert row.image_generation_calls == 1
    assert row.cost_usd == _gpt5_tokens(row) + Decimal("0.011")  # low 1024x1024


def test_chat_search_preview_model_pays_one_search_a_request(gateway: Gateway) -> None:
    gateway.client().chat.completions.create(
        model="gpt-4o-mini-search-preview", messages=[{"role": "user", "content": "news?"}]
    )
    row = gateway.only_request()
    tokens = (
        row.prompt_tokens * Decimal("0.15") + row.completion_tokens * Decimal("0.60")
    ) / MILLION
    assert row.web_search_preview_calls == 1
    assert row.cost_usd == tokens + Decimal("0.025")


def test_computer_use_bills_its_tokens_and_no_call_fee(gateway: Gateway) -> None:
    """computer-use-preview: $3 / $12 per 1M tokens; the catalog's computer fee is $0."""
    gateway.client().responses.create(
        model="computer-use-preview",
        input="Open the settings page.",
        tools=[
            {
                "type": "computer_use_preview",
                "display_width": 1024,
                "display_height": 768,
                "environment": "browser",
            },
        ],
        truncation="auto",
        extra_headers={"x-mock-tool-calls": "3"},
    )
    row = gateway.only_request()
    tokens = (row.prompt_tokens * Decimal(3) + row.completion_tokens * Decimal(12)) / MILLION
    assert row.computer_calls == 3
    assert (row.cost_usd, row.cost_source) == (tokens, "computed")
    assert row.cost_usd is not None and row.cost_usd > 0


def test_chat_search_api_model_pays_one_web_search_a_request(gateway: Gateway) -> None:
    """gpt-5-search-api: gpt-5's token rates plus one web_search call ($10 / 1K)."""
    gateway.client().chat.completions.create(
        model="gpt-5-search-api", messages=[{"role": "user", "content": "news?"}]
    )
    row = gateway.only_request()
    assert (row.web_search_calls, row.web_search_preview_calls) == (1, 0)
    assert row.cost_usd == _gpt5_tokens(row) + Decimal("0.01")
