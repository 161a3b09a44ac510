"""Built-in tool fees: per call on top of tokens, by tool and model family, dated."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from collector.errors import PricingError
from collector.pricing import compute_cost, parse_catalog
from collector.usage import CostSource, Usage

AT = datetime(2026, 12, 1, tzinfo=UTC)
# 10,000 in × $1.25 + 1,050 out × $10 = 12,500 + 10,500 = 23,000 / 1M = $0.023
GPT5_TOKENS = Usage(prompt_tokens=10_000, completion_tokens=1_050)


def test_issue_example_two_web_searches_on_gpt5() -> None:
    plain = compute_cost(GPT5_TOKENS, "gpt-5", AT)
    searched = compute_cost(replace(GPT5_TOKENS, web_search_calls=2), "gpt-5", AT)
    assert plain.cost_usd == Decimal("0.023")
    assert searched.cost_usd == Decimal("0.043")  # + 2 × $0.01
    assert searched.cost_source is CostSource.COMPUTED


@pytest.mark.parametrize(
    ("model", "field", "expected_fee"),
    [
        ("gpt-5", "web_search_preview_calls", "0.01"),  # reasoning: $10/1K
        ("gpt-4.1", "web_search_preview_calls", "0.025"),  # non-reasoning: $25/1K
        ("gpt-5-chat-latest", "web_search_preview_calls", "0.025"),
        ("gpt-4.1", "file_search_calls", "0.0025"),
        ("gpt-4.1", "code_interpreter_sessions", "0.03"),
        ("gpt-4.1", "image_generation_calls", "0.042"),  # quality unknown: medium square
        ("gpt-4.1", "computer_calls", "0"),
    ],
)
def test_one_call_of_each_tool(model: str, field: str, expected_fee: str) -> None:
    base = Usage(prompt_tokens=1000, completion_tokens=100)
    plain = compute_cost(base, model, AT)
    one_call: dict[str, Any] = {field: 1}
    with_tool = compute_cost(replace(base, **one_call), model, AT)
    assert plain.cost_usd is not None and with_tool.cost_usd is not None
    assert with_tool.cost_usd - plain.cost_usd == Decimal(expected_fee)


def test_image_generation_by_quality_and_size() -> None:
    usage = Usage(
        prompt_tokens=100, image_generation_calls=2, image_quality="high", image_size="1536x1024"
    )
    cost = compute_cost(usage, "gpt-4.1", AT)
    # 100 × $2 / 1M = $0.0002, + 2 × $0.25
    assert cost.cost_usd == Decimal("0.5002")


def test_mini_web_search_bills_a_fixed_token_block() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=0, web_search_calls=1)
    # 1,000 in × $0.15 + 8,000 block × $0.15 = $0.00135, + $0.01 a call
    assert compute_cost(usage, "gpt-4o-mini", AT).cost_usd == Decimal("0.01135")


def test_tool_call_before_any_tool_price_is_unpriced_not_free() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=10, web_search_calls=1)
    cost = compute_cost(usage, "gpt-4.1", datetime(2025, 6, 1, tzinfo=UTC))
    assert (cost.cost_usd, cost.cost_source) == (None, CostSource.UNPRICED)


def _tools_yaml(extra: str) -> str:
    entry = "{id: x, models: ['*'], effective_from: 2025-01-01, source: s, " + extra + "}"
    return f"entries: []\ntools:\n  - {entry}\n"


def test_tool_prices_are_checked_on_load() -> None:
    with pytest.raises(PricingError, match="tool must be one of"):
        parse_catalog(_tools_yaml("tool: teleport, per_call: 1"))
    with pytest.raises(PricingError, match="exactly one of per_call and per_1k_calls"):
        parse_catalog(_tools_yaml("tool: file_search, per_call: 1, per_1k_calls: 2"))
