"""The shipped catalog is complete and sane, and a bad catalog fails loudly on load."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from collector.errors import PricingError
from collector.pricing import PriceEntry, Unit, load_catalog, parse_catalog, resolve_price

NOW = datetime(2025, 9, 1, tzinfo=UTC)

REQUIRED_MODELS = [
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4o",
    "gpt-4o-2024-05-13",
    "gpt-4o-2024-08-06",
    "gpt-4o-2024-11-20",
    "gpt-4o-mini",
    "o1",
    "o1-pro",
    "o3",
    "o3-pro",
    "o3-mini",
    "o4-mini",
    "gpt-4-turbo",
    "gpt-4",
    "gpt-3.5-turbo",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
    "whisper-1",
    "tts-1",
    "tts-1-hd",
    "dall-e-2",
    "dall-e-3",
    "gpt-image-1",
    "omni-moderation-latest",
    "ft:gpt-4o-mini-2024-07-18:org::id",
    "ft:gpt-4.1-2025-04-14:org::id",
]


def _prices(entry: PriceEntry) -> list[Decimal]:
    values = [
        entry.input,
        entry.cached_input,
        entry.output,
        entry.audio_input,
        entry.audio_output,
        entry.image_input,
        entry.image_output,
        entry.per_minute,
        entry.per_1m_characters,
        *entry.per_image.values(),
    ]
    for mode in (entry.batch, *entry.tiers.values()):
        if mode is not None:
            values += [mode.input, mode.cached_input, mode.output]
    return [v for v in values if v is not None]


@pytest.mark.parametrize("model", REQUIRED_MODELS)
def test_required_models_are_priced_now(model: str) -> None:
    assert resolve_price(model, NOW) is not None


def test_every_entry_has_a_source_and_non_negative_decimal_prices() -> None:
    entries = load_catalog().entries
    assert len(entries) >= 40
    for entry in entries:
        assert "http" in entry.source and "read 20" in entry.source, entry.id
        prices = _prices(entry)
        assert prices, entry.id
        assert all(isinstance(p, Decimal) and p >= 0 for p in prices), entry.id


def test_ids_are_unique_and_name_their_model() -> None:
    ids = [e.id for e in load_catalog().entries]
    assert len(ids) == len(set(ids))
    assert all(e.id.startswith(e.model + "@") for e in load_catalog().entries)


def test_prices_are_read_exactly_not_through_float() -> None:
    gpt5_batch = resolve_price("gpt-5", NOW)
    assert gpt5_batch is not None and gpt5_batch.batch is not None
    assert gpt5_batch.batch.cached_input == Decimal("0.0625")
    assert str(gpt5_batch.cached_input) == "0.125"


def test_o3_has_both_price_periods() -> None:
    periods = [e for e in load_catalog().entries if e.model == "o3-2025-04-16"]
    assert [(p.input, p.output) for p in sorted(periods, key=lambda p: p.effective_from)] == [
        (Decimal("10.00"), Decimal("40.00")),
        (Decimal("2.00"), Decimal("8.00")),
    ]


def test_units_match_their_prices() -> None:
    by_model = {e.model: e for e in load_catalog().entries}
    assert by_model["whisper-1"].unit is Unit.MINUTE
    assert by_model["tts-1"].unit is Unit.CHARACTER
    assert by_model["dall-e-3"].unit is Unit.IMAGE
    assert by_model["gpt-image-1"].image_output == Decimal("40.00")
    moderation = by_model["omni-moderation-2024-09-26"]
    assert (moderation.input, moderation.output) == (Decimal(0), Decimal(0))


def test_load_catalog_is_cached() -> None:
    assert load_catalog() is load_catalog()


GOOD = """
entries:
  - id: m@2025-01-01
    model: m
    family: f
    effective_from: 2025-01-01
    source: https://example.test/prices read 2026-01-01
    prices: {input: 1.10, output: 2}
"""


def test_a_minimal_catalog_parses() -> None:
    catalog = parse_catalog(GOOD)
    entry = catalog.resolve("m", NOW)
    assert entry is not None and entry.input == Decimal("1.10") and entry.output == Decimal(2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("    source: https://example.test/prices read 2026-01-01\n", ""), "source"),
        (
            GOOD.replace("source: https://example.test/prices read 2026-01-01", "source: ' '"),
            "source",
        ),
        (GOOD.replace("input: 1.10", "input: -1.10"), "negative"),
        (GOOD.replace("input: 1.10", "input: 'Infinity'"), "finite"),
        (GOOD.replace("input: 1.10", "input: .inf"), "not a number"),
        (GOOD.replace("input: 1.10", "input: cheap"), "not a number"),
        (GOOD + GOOD.split("entries:\n", 1)[1], "duplicate id"),
        (GOOD.replace("family: f", "family: f\n    colour: red"), "unknown keys"),
        (GOOD.replace("{input: 1.10, output: 2}", "{input: 1, wholesale: 2}"), "unknown price"),
        (GOOD.replace("    effective_from: 2025-01-01\n", ""), "effective_from"),
        (GOOD.replace("id: m@2025-01-01", "id: other@2025-01-01"), "<model>@<date>"),
        (GOOD.replace("{input: 1.10, output: 2}", "{per_minute: 0.006}"), "no price to bill"),
        ("entries: 3", "'entries' list"),
        ("entries: [", "not valid YAML"),
    ],
)
def test_schema_errors_are_caught_on_load(text: str, message: str) -> None:
    with pytest.raises(PricingError, match=message):
        parse_catalog(text)


def test_two_prices_for_one_name_at_one_instant_are_rejected() -> None:
    clash = GOOD + GOOD.split("entries:\n", 1)[1].replace("id: m@2025-01-01", "id: m@again")
    with pytest.raises(PricingError, match="two prices for 'm'"):
        parse_catalog(clash)
