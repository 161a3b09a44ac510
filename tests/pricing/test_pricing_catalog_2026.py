"""Worked examples for the catalog entries added for the current OpenAI models.

Each expected amount is the published price: 1M input tokens + 1M output tokens (per-1M
prices added), or the audio / image token rates where the model bills those.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from collector.pricing import compute_cost
from collector.usage import CostSource, Usage

AT = datetime(2026, 12, 1, tzinfo=UTC)
M = 1_000_000
ONE_AND_ONE = Usage(prompt_tokens=M, completion_tokens=M)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-5.1", "11.25"),  # 1.25 + 10
        ("gpt-5.1-2025-11-13", "11.25"),
        ("gpt-5.1-chat-latest", "11.25"),
        ("gpt-5.1-codex", "11.25"),
        ("gpt-5.1-codex-mini", "2.25"),  # 0.25 + 2
        ("gpt-5-codex", "11.25"),
        ("gpt-5-pro", "135"),  # 15 + 120
        ("gpt-5.2", "15.75"),  # 1.75 + 14
        ("gpt-5.2-chat-latest", "15.75"),
        ("gpt-5.3-chat-latest", "15.75"),
        ("gpt-5.2-pro", "189"),  # 21 + 168
        ("gpt-5-search-api", "11.25"),
        ("gpt-4o-search-preview", "12.5"),  # 2.50 + 10
        ("gpt-4o-mini-search-preview", "0.75"),  # 0.15 + 0.60
        ("codex-mini-latest", "7.5"),  # 1.50 + 6
        ("computer-use-preview", "15"),  # 3 + 12
        ("o3-deep-research", "50"),  # 10 + 40
        ("o4-mini-deep-research", "10"),  # 2 + 8
        ("gpt-audio", "12.5"),  # text 2.50 + 10
        ("gpt-audio-mini", "3"),  # text 0.60 + 2.40
        ("gpt-realtime", "20"),  # text 4 + 16
        ("gpt-realtime-mini", "3"),  # text 0.60 + 2.40
        ("gpt-4o-realtime-preview", "25"),  # text 5 + 20
        ("gpt-4o-mini-realtime-preview", "3"),
        ("gpt-4o-transcribe-diarize", "12.5"),  # text 2.50 + 10
        ("gpt-image-1.5", "15"),  # text 5 + 10
        ("gpt-image-2", "15"),
        ("gpt-3.5-turbo-0613", "3.5"),  # 1.50 + 2 (was priced as 0125: 2.00)
        ("gpt-3.5-turbo-16k-0613", "7"),  # 3 + 4
        ("ft:o4-mini-2025-04-16:acme::abc", "20"),  # 4 + 16
    ],
)
def test_one_million_in_and_out(model: str, expected: str) -> None:
    cost = compute_cost(ONE_AND_ONE, model, AT)
    assert (cost.cost_usd, cost.cost_source) == (Decimal(expected), CostSource.COMPUTED)


@pytest.mark.parametrize(
    ("model", "usage", "expected"),
    [
        # audio 1M in × 32 + 1M out × 64
        ("gpt-audio", Usage(prompt_tokens=M, completion_tokens=M, audio_prompt_tokens=M,
                            audio_completion_tokens=M), "96"),
        # image 1M in × 2.50 + image 1M out × 8
        ("gpt-image-1-mini", Usage(prompt_tokens=M, completion_tokens=M, image_prompt_tokens=M,
                                   image_completion_tokens=M), "10.5"),
        # gpt-5.1 batch: 1M × 0.625 + 1M × 5
        ("gpt-5.1", ONE_AND_ONE, "5.625"),
    ],
)  # fmt: skip
def test_modes_and_modalities(model: str, usage: Usage, expected: str) -> None:
    batch = model == "gpt-5.1"
    assert compute_cost(usage, model, AT, batch=batch).cost_usd == Decimal(expected)


def test_gpt_5_1_priority() -> None:
    cost = compute_cost(ONE_AND_ONE, "gpt-5.1", AT, service_tier="priority")
    assert cost.cost_usd == Decimal("22.5")  # 2.50 + 20
