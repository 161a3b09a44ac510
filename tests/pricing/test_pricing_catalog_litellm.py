"""The shipped catalog against LiteLLM 1.110.2's price table, and worked examples for the
entries added from it.

``litellm_1_110_2_openai.json`` holds the OpenAI rows of LiteLLM 1.110.2's
``model_prices_and_context_window.json`` (read from the ``litellm==1.110.2`` wheel), cut to
the fields ``prices diff`` compares; nothing is fetched when the tests run. Each expected
amount below is the published price: 100K input + 100K output tokens (a tenth of the per-1M
rates added), or the mode, modality or tier named beside it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from collector.pricing import compute_cost, diff_prices, parse_litellm_prices
from collector.usage import CostSource, Usage

HERE = Path(__file__).parent
AT = datetime(2026, 12, 7, tzinfo=UTC)  # after every entry added from LiteLLM 1.110.2
M = 1_000_000
# 100K in + 100K out: a tenth of the per-1M rates added, below every 272K long-context threshold
TENTH = 100_000
SMALL = Usage(prompt_tokens=TENTH, completion_tokens=TENTH)
# OpenAI's legacy completions models and a fine-tune LiteLLM prices at its base's rates:
# left out on purpose (docs/finance.md says why).
LEFT_OUT = ["babbage-002", "davinci-002", "ft:babbage-002:*", "ft:davinci-002:*", "ft:gpt-4-0613:*"]


def _litellm() -> dict[str, object]:
    data: dict[str, object] = json.loads((HERE / "litellm_1_110_2_openai.json").read_text())
    return data


def test_every_openai_model_litellm_prices_is_priced_here_but_the_documented_five() -> None:
    report = diff_prices(parse_litellm_prices(_litellm()), AT)
    assert [p.model for p in report.missing] == LEFT_OUT


def test_the_models_left_out_are_explained_in_the_finance_docs() -> None:
    finance = (HERE.parent.parent / "docs" / "finance.md").read_text()
    section = finance.split("## What the catalog does not price yet, and why", 1)[1]
    for model in LEFT_OUT:
        assert model.removesuffix(":*") in section, model


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-6-astra", "6"),  # 10 + 50
        ("gpt-6-astra-law", "6"),
        ("gpt-6-sol", "1.2"),  # 2 + 10
        ("gpt-6-luna", "0.06"),  # 0.10 + 0.50
        ("gpt-6.1-sol", "1.2"),
        ("gpt-6.1-terra", "0.6"),  # 1 + 5
        ("gpt-6-rosalind", "9"),  # 15 + 75
        ("gpt-6-cyber", "12"),  # 20 + 100
        ("gpt-5.6", "2.4"),  # the alias of gpt-5.6-sol: 4 + 20
        ("gpt-5.6-sol", "2.4"),
        ("gpt-5.6-terra", "1.4"),  # 2 + 12
        ("gpt-5.6-luna", "0.14"),  # 0.20 + 1.20
        ("gpt-5.6-cyber", "8.75"),  # 12.50 + 75
        ("gpt-daybreak-red-latest", "8.75"),
        ("daybreak-red-latest", "8.75"),
        ("gpt-daybreak-blue-latest", "2.4"),  # 4 + 20
        ("daybreak-blue-latest", "2.4"),
        ("chat-latest", "3.5"),  # 5 + 30
        ("gpt-5.5", "3.5"),
        ("gpt-5.5-2026-04-23", "3.5"),
        ("gpt-5.5-pro", "21"),  # 30 + 180
        ("gpt-5.5-pro-2026-04-23", "21"),
        ("gpt-5.5-cyber", "8.75"),
        ("gpt-5.5-cyber-preview", "8.75"),
        ("gpt-rosalind-research", "3"),  # 5 + 25
        ("gpt-rosalind-discovery", "3"),
        ("gpt-5.4-mini", "0.525"),  # 0.75 + 4.50
        ("gpt-5.4-mini-2026-03-17", "0.525"),
        ("gpt-5.4-2026-03-05", "1.75"),  # gpt-5.4's snapshot: 2.50 + 15
        ("gpt-5.4-pro-2026-03-05", "21"),
        ("gpt-5.1-codex-max", "1.125"),  # 1.25 + 10
        ("gpt-5.2-codex", "1.575"),  # 1.75 + 14
        ("gpt-5.3-codex", "1.575"),
        ("gpt-5-chat", "1.125"),
        ("gpt-realtime-1.5", "2"),  # text 4 + 16
        ("gpt-realtime-2", "2.8"),  # text 4 + 24
        ("gpt-realtime-2.1", "2.8"),
        ("gpt-realtime-2.1-mini", "0.3"),  # text 0.60 + 2.40
        ("gpt-realtime-mini-2025-12-15", "0.3"),
        ("gpt-audio-1.5", "1.25"),  # text 2.50 + 10
        ("chatgpt-image-latest", "1.5"),  # text 5 + 10
        ("gpt-3.5-turbo-16k", "0.7"),  # 3 + 4
        ("gpt-3.5-turbo-instruct-0914", "0.35"),  # 1.50 + 2
        ("ft:gpt-4o-2024-11-20:acme::abc", "1.875"),  # 3.75 + 15
    ],
)
def test_a_tenth_of_a_million_in_and_out(model: str, expected: str) -> None:
    cost = compute_cost(SMALL, model, AT)
    assert (cost.cost_usd, cost.cost_source) == (Decimal(expected), CostSource.COMPUTED)


@pytest.mark.parametrize(
    ("model", "usage", "expected"),
    [
        # 1M in: 0.10 per 1M
        ("text-embedding-ada-002-v2", Usage(prompt_tokens=M), "0.1"),
        # text 1M in × 0.60 + audio 1M out × 12
        ("gpt-4o-mini-tts-2025-03-20", Usage(prompt_tokens=M, completion_tokens=M,
                                             audio_completion_tokens=M), "12.6"),
        ("gpt-4o-mini-tts-2025-12-15", Usage(prompt_tokens=M, completion_tokens=M,
                                             audio_completion_tokens=M), "12.6"),
        # audio 1M in × 3 + text 1M out × 5
        ("gpt-4o-mini-transcribe-2025-12-15", Usage(prompt_tokens=M, completion_tokens=M,
                                                    audio_prompt_tokens=M), "8"),
        ("gpt-4o-mini-transcribe-2025-03-20", Usage(prompt_tokens=M, completion_tokens=M,
                                                    audio_prompt_tokens=M), "8"),
        # audio 1M in × 32 (of which 0.5M cached × 0.40) + audio 1M out × 64
        ("gpt-realtime-2", Usage(prompt_tokens=M, cached_tokens=M // 2, audio_prompt_tokens=M,
                                 cached_audio_tokens=M // 2, completion_tokens=M,
                                 audio_completion_tokens=M), "80.2"),
        # image 1M in × 8 + image 1M out × 30
        ("gpt-image-2.5-flare", Usage(prompt_tokens=M, completion_tokens=M, image_prompt_tokens=M,
                                      image_completion_tokens=M), "38"),
        ("gpt-image-2.6-sunburst", Usage(prompt_tokens=M, completion_tokens=M,
                                         image_prompt_tokens=M, image_completion_tokens=M), "38"),
        # 80K × 4 + 20K cached × 0.40 + 100K × 20, per 1M
        ("gpt-5.6-sol", Usage(prompt_tokens=TENTH, cached_tokens=20_000, completion_tokens=TENTH),
         "2.328"),
    ],
)  # fmt: skip
def test_modalities_and_cached_tokens(model: str, usage: Usage, expected: str) -> None:
    assert compute_cost(usage, model, AT).cost_usd == Decimal(expected)


@pytest.mark.parametrize(
    ("model", "tier", "batch", "expected"),
    [
        ("gpt-6-sol", None, True, "0.6"),  # batch 1 + 5
        ("gpt-6-sol", "flex", False, "0.6"),
        ("gpt-6-sol", "priority", False, "2.4"),  # 4 + 20
        ("gpt-6-astra", "ultrafast", False, "36"),  # 60 + 300
        ("gpt-6.1-sol", "ultrafast", False, "7.2"),  # 12 + 60
        ("gpt-5.5", "priority", False, "8.75"),  # 12.50 + 75
        ("gpt-5.5-pro", "flex", False, "10.5"),  # 15 + 90
        ("gpt-5.4-mini", None, True, "0.2625"),  # 0.375 + 2.25
        ("gpt-5.3-codex", "priority", False, "3.15"),  # 3.50 + 28
    ],
)
def test_processing_modes(model: str, tier: str | None, batch: bool, expected: str) -> None:
    cost = compute_cost(SMALL, model, AT, batch=batch, service_tier=tier)
    assert cost.cost_usd == Decimal(expected)


def test_long_context_and_regional_uplift_of_a_2026_model() -> None:
    long = Usage(prompt_tokens=300_000, completion_tokens=10_000)
    # 300,000 × 2 × 2 + 10,000 × 10 × 1.5 = 1,200,000 + 150,000 → $1.35
    assert compute_cost(long, "gpt-6-sol", AT).cost_usd == Decimal("1.35")
    # gpt-5.5 publishes no long-context priority rate: unpriced, not guessed
    priority = compute_cost(long, "gpt-5.5", AT, service_tier="priority")
    assert (priority.cost_usd, priority.cost_source) == (None, CostSource.UNPRICED)
    # regional processing: 10 % on the tokens, 1.2 × 1.1
    assert compute_cost(SMALL, "gpt-6-sol", AT, regional=True).cost_usd == Decimal("1.32")


def test_a_model_dated_from_when_its_price_was_read_is_unpriced_before() -> None:
    cost = compute_cost(SMALL, "gpt-6-cyber", datetime(2026, 12, 5, tzinfo=UTC))
    assert (cost.cost_usd, cost.cost_source) == (None, CostSource.UNPRICED)


def test_image_models_in_batch_stay_unpriced() -> None:
    """Their batch column has no image-token rates: never billed at the standard ones."""
    usage = Usage(prompt_tokens=M, image_prompt_tokens=M, completion_tokens=M,
                  image_completion_tokens=M)  # fmt: skip
    cost = compute_cost(usage, "gpt-image-2.5-flare", AT, batch=True)
    assert (cost.cost_usd, cost.cost_source) == (None, CostSource.UNPRICED)
