"""compute_cost against hand-computed amounts: every expected Decimal is worked out in a comment.

Formula (per-1M prices): (prompt − cached) × input + cached × cached_input + completion × output,
divided by 1,000,000, quantized to 10 decimal places.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from collector.errors import PricingError
from collector.pricing import compute_cost, resolve_price
from collector.usage import Cost, CostSource, Usage

AT = datetime(2025, 9, 1, tzinfo=UTC)


def usd(text: str) -> Decimal:
    return Decimal(text)


def test_gpt_4o_launch_snapshot_keeps_its_own_price() -> None:
    # gpt-4o-2024-05-13 stays $5 / $15 even after later snapshots got cheaper:
    # 1000 × 5 + 500 × 15 = 12,500 → $0.0125
    cost = compute_cost(Usage(prompt_tokens=1000, completion_tokens=500), "gpt-4o-2024-05-13", AT)
    assert cost == Cost(usd("0.0125000000"), CostSource.COMPUTED, "gpt-4o-2024-05-13@2024-05-13")


@pytest.mark.parametrize("snapshot", ["gpt-4o-2024-08-06", "gpt-4o-2024-11-20"])
def test_later_gpt_4o_snapshots(snapshot: str) -> None:
    # 1000 × 2.50 + 500 × 10 = 7,500 → $0.0075
    cost = compute_cost(Usage(prompt_tokens=1000, completion_tokens=500), snapshot, AT)
    assert cost.cost_usd == usd("0.0075")
    assert cost.price_id == f"{snapshot}@{snapshot.removeprefix('gpt-4o-')}"


def test_gpt_4o_alias_follows_its_snapshot_at_the_exact_instant() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=500)
    switch = datetime(2024, 10, 2, tzinfo=UTC)
    before = compute_cost(usage, "gpt-4o", switch - timedelta(microseconds=1))
    after = compute_cost(usage, "gpt-4o", switch)
    assert (before.cost_usd, before.price_id) == (usd("0.0125"), "gpt-4o@2024-05-13")
    assert (after.cost_usd, after.price_id) == (usd("0.0075"), "gpt-4o@2024-10-02")


def test_cached_tokens_bill_at_the_cached_rate() -> None:
    # gpt-4.1: 6000 × 2.00 + 4000 × 0.50 + 1000 × 8.00 = 22,000 → $0.022
    usage = Usage(prompt_tokens=10_000, cached_tokens=4_000, completion_tokens=1_000)
    assert compute_cost(usage, "gpt-4.1", AT).cost_usd == usd("0.022")


def test_cached_tokens_without_a_cached_price_bill_as_input() -> None:
    # gpt-4o-2024-05-13 has no cached rate: 1000 × 5 + 0 × 15 = 5,000 → $0.005
    usage = Usage(prompt_tokens=1000, cached_tokens=600)
    assert compute_cost(usage, "gpt-4o-2024-05-13", AT).cost_usd == usd("0.005")


def test_reasoning_tokens_are_part_of_completion_not_extra() -> None:
    # o4-mini: 2000 × 1.10 + 3000 × 4.40 = 2,200 + 13,200 = 15,400 → $0.0154
    with_reasoning = Usage(prompt_tokens=2000, completion_tokens=3000, reasoning_tokens=2500)
    cost = compute_cost(with_reasoning, "o4-mini", AT)
    assert cost.cost_usd == usd("0.0154")
    plain = compute_cost(Usage(prompt_tokens=2000, completion_tokens=3000), "o4-mini", AT)
    assert plain.cost_usd == cost.cost_usd


def test_batch_rates() -> None:
    # gpt-4o-mini batch: 1,000,000 × 0.075 + 100,000 × 0.30 = 105,000 → $0.105;
    # no batch cached rate is published, so cached tokens bill at the batch input rate.
    usage = Usage(prompt_tokens=1_000_000, cached_tokens=200_000, completion_tokens=100_000)
    assert compute_cost(usage, "gpt-4o-mini", AT, batch=True).cost_usd == usd("0.105")


def test_batch_with_a_published_batch_cached_rate() -> None:
    # gpt-5 batch: 50,000 × 0.625 + 50,000 × 0.0625 + 10,000 × 5 = 84,375 → $0.084375
    usage = Usage(prompt_tokens=100_000, cached_tokens=50_000, completion_tokens=10_000)
    assert compute_cost(usage, "gpt-5", AT, batch=True).cost_usd == usd("0.084375")


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        (None, "0.01125"),  # 1000 × 1.25 + 1000 × 10 = 11,250
        ("default", "0.01125"),
        ("auto", "0.01125"),
        ("flex", "0.005625"),  # 1000 × 0.625 + 1000 × 5 = 5,625
        ("priority", "0.0225"),  # 1000 × 2.50 + 1000 × 20 = 22,500
    ],
)
def test_service_tiers_on_gpt_5(tier: str | None, expected: str) -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=1000)
    assert compute_cost(usage, "gpt-5", AT, service_tier=tier).cost_usd == usd(expected)


def test_flex_with_cached_tokens_on_o3_before_the_price_cut() -> None:
    # o3 flex at launch: 600 × 5 + 400 × 1.25 + 100 × 20 = 5,500 → $0.0055
    usage = Usage(prompt_tokens=1000, cached_tokens=400, completion_tokens=100)
    at = datetime(2025, 5, 1, tzinfo=UTC)
    assert compute_cost(usage, "o3", at, service_tier="flex").cost_usd == usd("0.0055")


def test_fast_is_billed_as_priority() -> None:
    # the API answers service_tier=priority for fast: 1000 × 2.50 + 1000 × 20 → $0.0225
    usage = Usage(prompt_tokens=1000, completion_tokens=1000)
    assert compute_cost(usage, "gpt-5", AT, service_tier="fast").cost_usd == usd("0.0225")


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        ("gpt-4.1", {"service_tier": "flex"}),  # no flex price published for gpt-4.1
        ("gpt-5", {"service_tier": "scale"}),  # Scale Tier is prepaid: no per-token price
        ("gpt-4o-audio-preview-2024-12-17", {"batch": True}),
    ],
)
def test_mode_without_published_rates_is_unpriced(model: str, kwargs: dict[str, object]) -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=1000)
    cost = compute_cost(usage, model, AT, **kwargs)  # type: ignore[arg-type]
    assert cost.cost_usd is None and cost.cost_source is CostSource.UNPRICED
    assert cost.price_id is not None and cost.price_id.startswith(model.split("-2024")[0])


def test_free_moderation_stays_free_in_batch() -> None:
    cost = compute_cost(Usage(prompt_tokens=10), "omni-moderation-latest", AT, batch=True)
    assert cost.cost_usd == Decimal(0) and cost.cost_source is CostSource.COMPUTED


def test_o3_price_cut_boundary_is_the_exact_instant() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=1000)
    cut = datetime(2025, 6, 10, tzinfo=UTC)
    # before: 1000 × 10 + 1000 × 40 = 50,000 → $0.05; from the cut: 1000 × 2 + 1000 × 8 → $0.01
    before = compute_cost(usage, "o3", cut - timedelta(microseconds=1))
    at_cut = compute_cost(usage, "o3", cut)
    assert (before.cost_usd, before.price_id) == (usd("0.05"), "o3-2025-04-16@2025-04-16")
    assert (at_cut.cost_usd, at_cut.price_id) == (usd("0.01"), "o3-2025-04-16@2025-06-10")
    # 01:00 at UTC+2 is still 23:00 UTC on the 9th: the old price.
    plus_two = datetime(2025, 6, 10, 1, tzinfo=timezone(timedelta(hours=2)))
    assert compute_cost(usage, "o3-2025-04-16", plus_two).cost_usd == usd("0.05")


@pytest.mark.parametrize(
    ("model", "usage", "expected", "price_id"),
    [
        # 500 × 0.30 + 500 × 0.15 + 1000 × 1.20 = 1,425 → $0.001425
        (
            "ft:gpt-4o-mini-2024-07-18:acme::9yTaC31L",
            Usage(prompt_tokens=1000, cached_tokens=500, completion_tokens=1000),
            "0.001425",
            "ft:gpt-4o-mini-2024-07-18@2024-07-18",
        ),
        # 1000 × 3 + 1000 × 12 = 15,000 → $0.015
        (
            "ft:gpt-4.1-2025-04-14:acme:support-bot:Bx7QzK2m",
            Usage(prompt_tokens=1000, completion_tokens=1000),
            "0.015",
            "ft:gpt-4.1-2025-04-14@2025-04-14",
        ),
    ],
)
def test_fine_tuned_models_use_fine_tuned_rates(
    model: str, usage: Usage, expected: str, price_id: str
) -> None:
    assert compute_cost(usage, model, AT) == Cost(usd(expected), CostSource.COMPUTED, price_id)


def test_unknown_model_is_unpriced_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    model = f"gpt-unknown-{uuid.uuid4().hex[:8]}"
    usage = Usage(prompt_tokens=10, completion_tokens=10)
    with caplog.at_level(logging.WARNING, logger="collector.pricing"):
        first = compute_cost(usage, model, AT)
        second = compute_cost(usage, model, AT)
    assert first == second == Cost(None, CostSource.UNPRICED, None)
    assert [r.getMessage() for r in caplog.records].count(
        f"no price known for model {model!r}; its cost is recorded as unpriced"
    ) == 1


def test_model_used_before_its_first_price_is_unpriced() -> None:
    cost = compute_cost(Usage(prompt_tokens=1), "gpt-5", datetime(2025, 1, 1, tzinfo=UTC))
    assert cost.cost_source is CostSource.UNPRICED and cost.cost_usd is None


def test_moderation_is_a_real_zero() -> None:
    cost = compute_cost(Usage(prompt_tokens=5000), "omni-moderation-latest", AT)
    assert cost.cost_usd == Decimal(0)
    assert cost.cost_source is CostSource.COMPUTED
    assert cost.price_id == "omni-moderation-2024-09-26@2024-09-26"


def test_embeddings_bill_input_only() -> None:
    # text-embedding-3-large: 123,456 × 0.13 = 16,049.28 → $0.01604928
    cost = compute_cost(Usage(prompt_tokens=123_456), "text-embedding-3-large", AT)
    assert cost.cost_usd == usd("0.01604928")


def test_whisper_bills_per_second_at_the_minute_rate() -> None:
    # 90.5 s × $0.006 / 60 = $0.00905
    cost = compute_cost(Usage(audio_seconds=Decimal("90.5")), "whisper-1", AT)
    assert cost.cost_usd == usd("0.00905")


@pytest.mark.parametrize(
    ("model", "characters", "expected"),
    [("tts-1", 1234, "0.01851"), ("tts-1-hd", 1000, "0.03")],  # 1234 × 15 / 1M; 1000 × 30 / 1M
)
def test_tts_bills_per_character(model: str, characters: int, expected: str) -> None:
    assert compute_cost(Usage(characters=characters), model, AT).cost_usd == usd(expected)


@pytest.mark.parametrize(
    ("model", "size", "quality", "images", "expected"),
    [
        ("dall-e-3", "1792x1024", "hd", 2, "0.24"),
        ("dall-e-3", None, None, 1, "0.04"),  # OpenAI's defaults: standard, 1024x1024
        ("dall-e-2", "256x256", None, 3, "0.048"),
        ("dall-e-2", "1024x1024", "standard", 1, "0.02"),
    ],
)
def test_images_bill_per_image_by_size_and_quality(
    model: str, size: str | None, quality: str | None, images: int, expected: str
) -> None:
    usage = Usage(images=images, image_size=size, image_quality=quality)
    assert compute_cost(usage, model, AT).cost_usd == usd(expected)


def test_image_size_without_a_price_is_unpriced_not_zero() -> None:
    cost = compute_cost(Usage(images=1, image_size="4096x4096"), "dall-e-3", AT)
    assert cost == Cost(None, CostSource.UNPRICED, "dall-e-3@2023-11-06")


def test_gpt_image_1_bills_image_tokens_at_their_own_rates() -> None:
    # text in 100 × 5 + image in 50 × 10 + image out 4160 × 40 = 167,400 → $0.1674
    usage = Usage(
        prompt_tokens=150,
        image_prompt_tokens=50,
        completion_tokens=4160,
        image_completion_tokens=4160,
    )
    assert compute_cost(usage, "gpt-image-1", AT).cost_usd == usd("0.1674")


def test_audio_tokens_are_taken_out_of_the_text_part() -> None:
    # gpt-4o-audio-preview-2024-12-17: text in 400 × 2.5 + audio in 600 × 40
    # + text out 100 × 10 + audio out 400 × 80 = 1,000 + 24,000 + 1,000 + 32,000 → $0.058
    usage = Usage(
        prompt_tokens=1000,
        audio_prompt_tokens=600,
        completion_tokens=500,
        audio_completion_tokens=400,
    )
    assert compute_cost(usage, "gpt-4o-audio-preview-2024-12-17", AT).cost_usd == usd("0.058")


def test_gpt_4o_transcribe_bills_audio_tokens() -> None:
    # 200 × 2.50 + 1000 × 6.00 + 300 × 10.00 = 9,500 → $0.0095
    usage = Usage(prompt_tokens=1200, audio_prompt_tokens=1000, completion_tokens=300)
    assert compute_cost(usage, "gpt-4o-transcribe", AT).cost_usd == usd("0.0095")


def test_audio_tokens_on_a_model_without_audio_rates_are_unpriced() -> None:
    usage = Usage(prompt_tokens=1000, audio_prompt_tokens=10)
    cost = compute_cost(usage, "gpt-4.1", AT)
    assert cost.cost_usd is None and cost.cost_source is CostSource.UNPRICED


def test_costs_are_quantized_to_ten_places() -> None:
    # gpt-5-nano batch cached rate 0.0025 per 1M: 1 token → $0.0000000025 exactly
    usage = Usage(prompt_tokens=1, cached_tokens=1)
    cost = compute_cost(usage, "gpt-5-nano", AT, batch=True)
    assert cost.cost_usd == usd("0.0000000025")
    assert cost.cost_usd is not None and cost.cost_usd.as_tuple().exponent == -10


def test_estimated_usage_is_marked_estimated() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=500)
    cost = compute_cost(usage, "gpt-4o-mini", AT, estimated=True)
    # 1000 × 0.15 + 500 × 0.60 = 450 → $0.00045
    assert cost == Cost(usd("0.00045"), CostSource.ESTIMATED, "gpt-4o-mini-2024-07-18@2024-07-18")
    unknown = compute_cost(usage, f"unknown-{uuid.uuid4().hex}", AT, estimated=True)
    assert unknown.cost_source is CostSource.UNPRICED


def test_resolve_price_snapshot_and_family_fallback() -> None:
    own = resolve_price("gpt-4o-2024-05-13", AT)
    assert own is not None and own.input == Decimal("5.00")
    future = resolve_price("gpt-4.1-mini-2026-01-01", AT)
    assert future is not None and future.id == "gpt-4.1-mini-2025-04-14@2025-04-14"
    assert resolve_price("o1-mini-2024-09-12", AT) is None
    assert resolve_price("definitely-not-a-model", AT) is None


@pytest.mark.parametrize(
    ("kwargs", "usage", "message"),
    [
        ({"service_tier": "turbo"}, Usage(), "unknown service tier"),
        ({"batch": True, "service_tier": "flex"}, Usage(), "batch requests have no service tier"),
        ({}, Usage(prompt_tokens=1, cached_tokens=2), "cached_tokens cannot exceed"),
        ({}, Usage(prompt_tokens=5, audio_prompt_tokens=6), "exceed the prompt"),
        ({}, Usage(completion_tokens=-1), "completion_tokens must be >= 0"),
    ],
)
def test_bad_questions_raise_pricing_error(
    kwargs: dict[str, object], usage: Usage, message: str
) -> None:
    with pytest.raises(PricingError, match=message):
        compute_cost(usage, "gpt-4o", AT, **kwargs)  # type: ignore[arg-type]


def test_naive_instant_is_rejected() -> None:
    with pytest.raises(PricingError, match="timezone-aware"):
        compute_cost(Usage(prompt_tokens=1), "gpt-4o", datetime(2025, 1, 1))
    with pytest.raises(PricingError, match="timezone-aware"):
        resolve_price("gpt-4o", datetime(2025, 1, 1))
