"""No priced model is ever booked ``computed`` at $0, and unlisted snapshots are estimates.

A property over every catalog entry and every endpoint's usage shape: a ``computed`` cost
of 0 is allowed only when the entry's published prices are all 0 (moderation).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.pricing import PriceEntry, compute_cost, load_catalog
from collector.usage import ASSUMED_NOTE, NO_UNITS_NOTE, CostSource, Usage

ENTRIES = load_catalog().entries
_COUNT = st.integers(min_value=0, max_value=3) | st.integers(min_value=0, max_value=2_000_000)


@st.composite
def _tokens(draw: st.DrawFn) -> Usage:
    """Chat, Responses, embeddings, completions, realtime, gpt-image, gpt-4o transcription."""
    prompt, completion = draw(_COUNT), draw(_COUNT)
    cached = draw(st.integers(0, prompt))
    audio_in = draw(st.integers(0, prompt - cached))
    image_in = draw(st.integers(0, prompt - cached - audio_in))
    audio_out = draw(st.integers(0, completion))
    image_out = draw(st.integers(0, completion - audio_out))
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        reasoning_tokens=draw(st.integers(0, completion - audio_out - image_out)),
        audio_prompt_tokens=audio_in,
        image_prompt_tokens=image_in,
        audio_completion_tokens=audio_out,
        image_completion_tokens=image_out,
    )


_ENDPOINT_USAGE = st.one_of(
    _tokens(),
    st.builds(Usage, characters=_COUNT),  # speech as the audio body alone reports it
    st.builds(Usage, audio_seconds=st.decimals(0, 7200, places=3)),  # whisper
    st.builds(
        Usage,
        images=st.integers(0, 4),
        image_size=st.sampled_from([None, "1024x1024", "256x256"]),
        image_quality=st.sampled_from([None, "standard", "hd"]),
    ),
    st.just(Usage()),
)


def _free(entry: PriceEntry) -> bool:
    prices = [
        entry.input, entry.cached_input, entry.output, entry.audio_input, entry.audio_output,
        entry.image_input, entry.image_output, entry.per_minute, entry.per_1m_characters,
        *entry.per_image.values(),
    ]  # fmt: skip
    published = [p for p in prices if p is not None]
    return bool(published) and not any(published)


@settings(max_examples=400, deadline=None)
@given(
    entry=st.sampled_from(ENTRIES),
    usage=_ENDPOINT_USAGE,
    batch=st.booleans(),
)
def test_no_priced_model_is_computed_at_zero(entry: PriceEntry, usage: Usage, batch: bool) -> None:
    at = entry.effective_from + timedelta(hours=1)
    cost = compute_cost(usage, entry.model, at, batch=batch)
    if cost.cost_source is CostSource.COMPUTED and cost.cost_usd == 0:
        assert _free(entry), (entry.id, usage, cost)
    if cost.cost_source is CostSource.UNPRICED:
        assert cost.cost_usd is None


def test_every_entry_is_reachable_by_its_own_name() -> None:
    """The property above prices each entry by its model name: make sure it gets that entry."""
    catalog = load_catalog()
    for entry in ENTRIES:
        at = entry.effective_from + timedelta(hours=1)
        assert catalog.resolve(entry.model, at) is entry, entry.id


def test_speech_priced_per_token_with_only_characters_is_unpriced_not_zero() -> None:
    """What the gateway used to book as ``computed $0`` for gpt-4o-mini-tts."""
    cost = compute_cost(Usage(characters=23), "gpt-4o-mini-tts", datetime(2025, 9, 1, tzinfo=UTC))
    assert (cost.cost_usd, cost.cost_source) == (None, CostSource.UNPRICED)
    assert (cost.price_id, cost.note) == ("gpt-4o-mini-tts@2025-03-20", NO_UNITS_NOTE)


def test_chat_with_no_tokens_is_unpriced() -> None:
    cost = compute_cost(Usage(), "gpt-4o-mini", datetime(2025, 9, 1, tzinfo=UTC))
    assert (cost.cost_usd, cost.cost_source, cost.note) == (
        None,
        CostSource.UNPRICED,
        NO_UNITS_NOTE,
    )


def test_moderation_is_a_real_zero() -> None:
    cost = compute_cost(
        Usage(prompt_tokens=10), "omni-moderation-latest", datetime(2025, 9, 1, tzinfo=UTC)
    )
    assert (cost.cost_usd, cost.cost_source) == (Decimal(0), CostSource.COMPUTED)


@pytest.mark.parametrize(
    ("snapshot", "entry_id", "expected"),
    [
        # 1M in × $0.15 + 1M out × $0.60 = $0.75, priced as the alias's entry
        ("gpt-4o-mini-2099-01-01", "gpt-4o-mini-2024-07-18@2024-07-18", "0.75"),
        # 1M in × $1.25 + 1M out × $10 = $11.25
        ("gpt-5-2099-12-31", "gpt-5-2025-08-07@2025-08-07", "11.25"),
    ],
)
def test_unlisted_dated_snapshot_is_estimated_with_the_entry_named(
    snapshot: str, entry_id: str, expected: str
) -> None:
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000)
    cost = compute_cost(usage, snapshot, datetime(2026, 1, 1, tzinfo=UTC))
    assert cost.cost_source is CostSource.ESTIMATED
    assert (cost.cost_usd, cost.price_id) == (Decimal(expected), entry_id)
    assert cost.note == f"{ASSUMED_NOTE} {snapshot} is not in the catalog; priced as {entry_id}"


def test_listed_snapshot_and_alias_stay_computed() -> None:
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for name in ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"):
        cost = compute_cost(usage, name, at)
        assert (cost.cost_source, cost.note) == (CostSource.COMPUTED, None)


def test_pattern_covered_fine_tune_is_not_an_assumption() -> None:
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000)
    cost = compute_cost(
        usage, "ft:gpt-4o-mini-2024-07-18:acme::abc123", datetime(2026, 1, 1, tzinfo=UTC)
    )
    # 1M × $0.30 + 1M × $1.20 = $1.50
    assert (cost.cost_usd, cost.cost_source) == (Decimal("1.5"), CostSource.COMPUTED)
