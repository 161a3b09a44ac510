"""Claude and Gemini prices (other providers' OpenAI-compatible endpoints), worked by hand.

Each expected amount is the published per-1M rate times the tokens: Anthropic bills a cache
write at 1.25x input and a cache read at 0.1x; Gemini 2.5 Pro bills a prompt over 200K
tokens, whole, at 2x input and 1.5x output.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from collector.pricing import compute_cost, load_catalog
from collector.providers import provider_of_url, providers_of
from collector.usage import CostSource, Usage

AT = datetime(2026, 12, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("model", "provider", "expected"),
    [
        # 1,000 in + 500 out: in × input + out × output
        ("claude-sonnet-4-5", "anthropic", "0.0105"),  # 3 + 7.5 (per 1M / 1000)
        ("claude-sonnet-4-5-20250929", "anthropic", "0.0105"),
        ("claude-opus-4-1", "anthropic", "0.0525"),  # 15 + 37.5
        ("claude-opus-4-7", "anthropic", "0.0175"),  # 5 + 12.5
        ("claude-haiku-4-5", "anthropic", "0.0035"),  # 1 + 2.5
        ("gemini-2.5-pro", "google", "0.00625"),  # 1.25 + 5
        ("gemini-2.5-flash", "google", "0.00155"),  # 0.30 + 1.25
        ("gemini-2.5-flash-lite", "google", "0.0003"),  # 0.10 + 0.20
    ],
)
def test_claude_and_gemini_are_priced_at_their_providers_rates(
    model: str, provider: str, expected: str
) -> None:
    cost = compute_cost(Usage(prompt_tokens=1000, completion_tokens=500), model, AT,
                        provider=provider)  # fmt: skip
    assert cost.cost_source is CostSource.COMPUTED
    assert cost.cost_usd == Decimal(expected)


def test_anthropic_cache_writes_cost_1_25x_and_reads_0_1x_input() -> None:
    # 10,000 prompt tokens: 2,000 read from the cache, 4,000 written to it, 4,000 plain
    usage = Usage(prompt_tokens=10_000, cached_tokens=2_000, cache_write_tokens=4_000)
    cost = compute_cost(usage, "claude-sonnet-4-5", AT, provider="anthropic")
    # 4,000 × $3 + 2,000 × $0.30 + 4,000 × $3.75, per 1M
    assert cost.cost_usd == Decimal("0.012") + Decimal("0.0006") + Decimal("0.015")
    assert cost.cost_source is CostSource.COMPUTED


def test_gemini_pro_prompt_over_200k_is_priced_whole_at_the_long_context_rates() -> None:
    usage = Usage(prompt_tokens=300_000, cached_tokens=100_000, completion_tokens=1_000)
    cost = compute_cost(usage, "gemini-2.5-pro", AT, provider="google")
    # 200,000 × $2.50 + 100,000 × $0.25 + 1,000 × $15, per 1M
    assert cost.cost_usd == Decimal("0.5") + Decimal("0.025") + Decimal("0.015")


def test_batch_halves_claude() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=500)
    cost = compute_cost(usage, "claude-sonnet-4-5", AT, batch=True, provider="anthropic")
    assert cost.cost_usd == Decimal("0.00525")


@pytest.mark.parametrize(
    ("model", "provider"), [("claude-sonnet-4-5", "openai"), ("gpt-4.1", "anthropic"),
                            ("gemini-2.5-pro", "anthropic")],
)  # fmt: skip
def test_a_model_is_never_priced_with_another_providers_entry(model: str, provider: str) -> None:
    cost = compute_cost(Usage(prompt_tokens=1000, completion_tokens=500), model, AT,
                        provider=provider)  # fmt: skip
    assert cost.cost_usd is None
    assert cost.cost_source is CostSource.UNPRICED
    assert cost.note is not None and provider in cost.note


def test_other_providers_use_whichever_entry_names_the_model() -> None:
    cost = compute_cost(Usage(prompt_tokens=1000), "claude-haiku-4-5", AT, provider="other")
    assert cost.cost_usd == Decimal("0.001")


def test_every_claude_and_gemini_entry_names_its_provider_and_a_cache_write_rate() -> None:
    entries = [e for e in load_catalog().entries if e.family in {"claude", "gemini"}]
    assert len(entries) >= 15
    for entry in entries:
        assert entry.provider == ("anthropic" if entry.family == "claude" else "google")
        assert entry.cached_input is not None and entry.cache_write_factor is not None
        assert entry.source


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("https://api.anthropic.com/v1", "anthropic"),
        ("https://generativelanguage.googleapis.com/v1beta/openai", "google"),
        ("https://api.openai.com/v1", "openai"),
        ("http://127.0.0.1:9000/v1", "openai"),
    ],
)
def test_the_provider_of_a_base_url_is_its_host(url: str, provider: str) -> None:
    assert provider_of_url(url) == provider


def test_a_configured_provider_wins_over_the_host() -> None:
    bases = {
        "default": "https://api.openai.com/v1",
        "claude": "https://api.anthropic.com/v1",
        "gemini": "https://generativelanguage.googleapis.com/v1beta/openai",
        "vllm": "http://10.0.0.5:8000/v1",
    }
    found = providers_of({"vllm": "other"}, bases)
    assert found == {"default": "openai", "claude": "anthropic", "gemini": "google",
                     "vllm": "other"}  # fmt: skip


def _per_million(value: float) -> Decimal:
    """LiteLLM's per-token float, through its shortest text (never the float itself)."""
    return Decimal(repr(value)) * 1_000_000


LITELLM = json.loads((Path(__file__).parent / "litellm_1_110_2_anthropic_google.json").read_text())


@pytest.mark.parametrize("key", sorted(LITELLM))
def test_claude_and_gemini_entries_match_litellm_1_110_2(key: str) -> None:
    """Every rate LiteLLM 1.110.2 lists for these models equals the catalog's."""
    row, entry = LITELLM[key], load_catalog().resolve(key.removeprefix("gemini/"), AT)
    assert entry is not None, key
    assert entry.provider == {"anthropic": "anthropic", "gemini": "google"}[row["litellm_provider"]]
    assert entry.input == _per_million(row["input_cost_per_token"])
    assert entry.output == _per_million(row["output_cost_per_token"])
    assert entry.cached_input == _per_million(row["cache_read_input_token_cost"])
    assert entry.batch is not None
    assert entry.batch.input == _per_million(row["input_cost_per_token_batches"])
    assert entry.batch.output == _per_million(row["output_cost_per_token_batches"])
    if "cache_creation_input_token_cost" in row:
        assert entry.cache_write_factor is not None
        write = entry.input * entry.cache_write_factor
        assert write == _per_million(row["cache_creation_input_token_cost"])
    if "input_cost_per_token_above_200k_tokens" in row:
        long = entry.long_context
        assert long is not None and long.threshold == 200_000
        assert entry.input * long.input_factor == _per_million(
            row["input_cost_per_token_above_200k_tokens"]
        )
        assert entry.output * long.output_factor == _per_million(
            row["output_cost_per_token_above_200k_tokens"]
        )
