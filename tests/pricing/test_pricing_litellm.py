"""LiteLLM price import: exact per-token → per-1M conversion, OpenAI only, the rest summarised."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from collector.pricing import ImportedPrice, compute_cost, parse_litellm_prices
from collector.usage import Usage

FIXTURE = Path(__file__).with_name("litellm_prices_small.json")


def _load(*, exact: bool) -> dict[str, Any]:
    text = FIXTURE.read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text, parse_float=Decimal) if exact else json.loads(text)
    return data


@pytest.mark.parametrize("exact", [True, False], ids=["decimal-json", "float-json"])
def test_openai_token_prices_are_converted_exactly(exact: bool) -> None:
    result = parse_litellm_prices(_load(exact=exact))
    by_key = {p.key: p for p in result.prices}
    assert sorted(by_key) == [
        "ft:gpt-4o-mini-2024-07-18",
        "gpt-3.5-turbo-instruct",
        "gpt-4o",
        "my-new-model",
        "text-embedding-3-small",
    ]
    assert by_key["gpt-4o"] == ImportedPrice(
        key="gpt-4o",
        model="gpt-4o",
        mode="chat",
        input=Decimal("2.5"),
        cached_input=Decimal("1.25"),
        output=Decimal("10"),
        batch_input=Decimal("1.25"),
        batch_output=Decimal("5"),
    )
    # 1.65e-06 * 1e6 is 1.6500000000000001 in float arithmetic; the import must say 1.65.
    assert 1.65e-06 * 1e6 != 1.65
    assert by_key["my-new-model"].input == Decimal("1.65")
    assert by_key["my-new-model"].output == Decimal("6.6")
    assert by_key["text-embedding-3-small"].output == Decimal(0)


def test_fine_tuned_keys_become_patterns_for_their_tuned_models() -> None:
    result = parse_litellm_prices(_load(exact=True))
    (ft,) = [p for p in result.prices if p.key.startswith("ft:")]
    assert ft.model == "ft:gpt-4o-mini-2024-07-18:*"


def test_everything_not_imported_is_summarised() -> None:
    result = parse_litellm_prices(_load(exact=True))
    assert result.skipped == {
        "LiteLLM's sample_spec": 1,
        "provider anthropic": 1,
        "provider bedrock": 1,
        "provider azure": 1,
        "not an object": 1,
        "no per-token input price (not a token-priced model)": 1,
        "invalid input_cost_per_token": 2,
    }
    assert sorted(result.skipped_keys) == [
        "broken-price",
        "negative-price",
        "weird-entry",
        "whisper-1",
    ]
    assert result.ignored_fields == {
        "input_cost_per_token_flex": 1,
        "search_context_cost_per_query": 1,
        "input_cost_per_second": 1,
        "output_cost_per_second": 1,
    }
    lines = result.summary()
    assert lines[0] == "imported 5 OpenAI model prices"
    assert "skipped 2 keys: invalid input_cost_per_token" in lines
    assert lines[-1].startswith("ignored fields: input_cost_per_second (1)")


def test_imported_prices_become_overrides_that_price_requests() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    overrides = parse_litellm_prices(_load(exact=False)).to_overrides(start)
    assert {o.model for o in overrides} >= {"my-new-model", "ft:gpt-4o-mini-2024-07-18:*"}
    assert all(o.effective_from == start and o.note == "imported from LiteLLM" for o in overrides)
    usage = Usage(prompt_tokens=1000, completion_tokens=1000)
    # 1000 × 1.65 + 1000 × 6.6 = 8,250 → $0.00825
    cost = compute_cost(
        usage, "my-new-model", datetime(2026, 2, 1, tzinfo=UTC), overrides=overrides
    )
    assert cost.cost_usd == Decimal("0.00825")


@pytest.mark.parametrize("value", [True, None, [1], "1e-6x", float("nan"), -0.5])
def test_non_prices_are_rejected(value: object) -> None:
    data = {"x": {"litellm_provider": "openai", "input_cost_per_token": value}}
    result = parse_litellm_prices(data)
    assert result.prices == ()
    assert result.skipped_keys == ("x",)
