"""The long-context tier and the regional-processing uplift, as worked examples.

gpt-5.4 lists $2.50 input / $0.25 cached / $15 output per 1M; its batch and flex rates are
half of that, priority twice. Above 272,000 input tokens (cached ones included) the whole
request is priced at 2x the input-side and 1.5x the output-side rates, in standard, batch
and flex; priority publishes no long-context rate. Regional-processing endpoints add 10 %
to the token amount of gpt-5.4 and later (OpenAI's model pages, see catalog.yaml).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from collector.errors import PricingError
from collector.pricing import compute_cost, cost_breakdown, parse_catalog
from collector.usage import CostSource, Usage

AT = datetime(2026, 12, 1, tzinfo=UTC)
TENTH = 100_000


def _usage(prompt: int, cached: int = 50_000, completion: int = 10_000) -> Usage:
    return Usage(prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached)


@pytest.mark.parametrize(
    ("prompt", "batch", "tier", "expected"),
    [
        # 222,000 × 2.50 + 50,000 × 0.25 + 10,000 × 15 = 717,500 per 1M
        (272_000, False, None, "0.7175"),
        # 222,001 × 5.00 + 50,000 × 0.50 + 10,000 × 22.50 = 1,360,005 per 1M
        (272_001, False, None, "1.360005"),
        # batch: 222,000 × 1.25 + 50,000 × 0.125 + 10,000 × 7.50 = 358,750
        (272_000, True, None, "0.35875"),
        # batch, long: 222,001 × 2.50 + 50,000 × 0.25 + 10,000 × 11.25 = 680,002.5
        (272_001, True, None, "0.6800025"),
        # flex: the batch rates
        (272_000, False, "flex", "0.35875"),
        (272_001, False, "flex", "0.6800025"),
        # priority below the threshold: 222,000 × 5 + 50,000 × 0.50 + 10,000 × 30
        (272_000, False, "priority", "1.435"),
        # "default" and "auto" are standard
        (272_001, False, "default", "1.360005"),
    ],
)
def test_gpt_5_4_long_context_threshold(
    prompt: int, batch: bool, tier: str | None, expected: str
) -> None:
    cost = compute_cost(_usage(prompt), "gpt-5.4", AT, batch=batch, service_tier=tier)
    assert (cost.cost_usd, cost.cost_source) == (Decimal(expected), CostSource.COMPUTED)
    assert cost.price_id == "gpt-5.4@2026-03-05"


def test_priority_over_the_threshold_is_unpriced_with_the_reason() -> None:
    cost = compute_cost(_usage(272_001), "gpt-5.4", AT, service_tier="priority")
    assert (cost.cost_usd, cost.cost_source) == (None, CostSource.UNPRICED)
    assert cost.note is not None and "long-context" in cost.note and "272000" in cost.note


def test_gpt_5_4_pro_long_context() -> None:
    # 272,000 × 30 + 10,000 × 180 = 9,960,000 per 1M; above: × 2 and × 1.5
    below = compute_cost(_usage(272_000, cached=0), "gpt-5.4-pro", AT)
    above = compute_cost(_usage(272_001, cached=0), "gpt-5.4-pro", AT)
    assert below.cost_usd == Decimal("9.96")
    assert above.cost_usd == Decimal("19.02006")  # 272,001 × 60 + 10,000 × 270
    batch = compute_cost(_usage(272_001, cached=0), "gpt-5.4-pro", AT, batch=True)
    assert batch.cost_usd == Decimal("9.51003")  # 272,001 × 30 + 10,000 × 135


def test_models_without_a_tier_are_not_scaled() -> None:
    # gpt-5.2 (400K context) has no long-context tier: 300,000 × 1.75 + 10,000 × 14
    cost = compute_cost(_usage(300_000, cached=0), "gpt-5.2", AT)
    assert cost.cost_usd == Decimal("0.665")


@pytest.mark.parametrize(
    ("model", "regional", "expected"),
    [
        ("gpt-5.4", False, "1.75"),  # 100K × 2.50 + 100K × 15 per 1M
        ("gpt-5.4", True, "1.925"),  # × 1.10
        ("gpt-5.4-pro", True, "23.1"),  # (3 + 18) × 1.10
        ("gpt-5.4-nano", True, "0.1595"),  # (0.02 + 0.125) × 1.10
        ("gpt-5.4-nano-2026-03-17", False, "0.145"),
        ("gpt-5.2", True, "1.575"),  # released before 2026-03-05: no uplift
    ],
)
def test_regional_uplift(model: str, regional: bool, expected: str) -> None:
    usage = Usage(prompt_tokens=TENTH, completion_tokens=TENTH)
    cost = compute_cost(usage, model, AT, regional=regional)
    assert (cost.cost_usd, cost.cost_source) == (Decimal(expected), CostSource.COMPUTED)


def test_regional_and_long_context_compose() -> None:
    cost = compute_cost(_usage(272_001), "gpt-5.4", AT, regional=True)
    assert cost.cost_usd == Decimal("1.4960055")  # 1.360005 × 1.10


def test_regional_uplift_is_on_tokens_not_tool_fees() -> None:
    usage = Usage(prompt_tokens=TENTH, completion_tokens=TENTH, web_search_calls=2)
    plain = compute_cost(usage, "gpt-5.4", AT).cost_usd
    regional = compute_cost(usage, "gpt-5.4", AT, regional=True).cost_usd
    assert plain is not None and regional is not None
    assert regional - plain == Decimal("0.175")  # 10 % of the 1.75 of tokens


def test_breakdown_names_the_tier_and_the_uplift() -> None:
    cost, parts = cost_breakdown(_usage(272_001), "gpt-5.4", AT, regional=True)
    assert cost.cost_usd == Decimal("1.4960055")
    named = {p.name: (p.units, p.rate, p.amount) for p in parts}
    tier = " (long context, over 272000 input tokens)"
    assert named["input_tokens" + tier] == (Decimal(222_001), Decimal(5), Decimal("1.110005"))
    assert named["cached_input_tokens" + tier] == (
        Decimal(50_000),
        Decimal("0.5"),
        Decimal("0.025"),
    )
    assert named["output_tokens" + tier] == (Decimal(10_000), Decimal("22.5"), Decimal("0.225"))
    uplift = named["regional processing uplift"]
    assert uplift == (Decimal("1.360005"), Decimal(10), Decimal("0.1360005"))
    assert sum(p.amount for p in parts) == cost.cost_usd


def test_breakdown_below_the_threshold_has_plain_names() -> None:
    cost, parts = cost_breakdown(_usage(272_000), "gpt-5.4", AT)
    assert [p.name for p in parts] == ["input_tokens", "cached_input_tokens", "output_tokens"]
    assert sum(p.amount for p in parts) == cost.cost_usd == Decimal("0.7175")


_ENTRY = """
entries:
  - id: m@2026-01-01
    model: m
    family: f
    effective_from: 2026-01-01
    source: test
    prices:
      input: 1
      output: 2
      long_context: {LONG}
"""


@pytest.mark.parametrize(
    ("long", "message"),
    [
        ("{above_input_tokens: 10, input_factor: 2}", "long_context must map exactly"),
        (
            "{above_input_tokens: 0, input_factor: 2, output_factor: 1, modes: [standard]}",
            "positive whole number",
        ),
        (
            "{above_input_tokens: 10, input_factor: 0.5, output_factor: 1, modes: [batch]}",
            "at least 1",
        ),
        (
            "{above_input_tokens: 10, input_factor: 2, output_factor: 1, modes: [turbo]}",
            "long_context.modes",
        ),
        ("7", "long_context must map exactly"),
    ],
)
def test_bad_long_context_is_a_precise_catalog_error(long: str, message: str) -> None:
    with pytest.raises(PricingError, match=message):
        parse_catalog(_ENTRY.replace("{LONG}", long))


def test_a_parsed_tier_prices_only_its_modes() -> None:
    text = _ENTRY.replace(
        "{LONG}", "{above_input_tokens: 10, input_factor: 3, output_factor: 2, modes: [standard]}"
    ).replace("      output: 2\n", "      output: 2\n      batch: {input: 0.5, output: 1}\n")
    catalog = parse_catalog(text)
    usage = Usage(prompt_tokens=11, completion_tokens=1)
    # 11 × 3 + 1 × 4 = 37 per 1M
    assert compute_cost(usage, "m", AT, catalog=catalog).cost_usd == Decimal("0.000037")
    batch = compute_cost(usage, "m", AT, batch=True, catalog=catalog)
    assert batch.cost_source is CostSource.UNPRICED


def _cli(*args: str) -> tuple[int, str, str]:
    import typer
    from typer.testing import CliRunner

    from collector.cli.pricing import register

    app = typer.Typer(pretty_exceptions_enable=False)
    register(app)
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cost_command_regional_long_context_json() -> None:
    code, out, _ = _cli(
        *("cost", "--model", "gpt-5.4", "--prompt-tokens", "272001", "--cached-tokens", "50000"),
        *("--completion-tokens", "10000", "--regional", "--at", "2026-12-01T00:00:00Z", "--json"),
    )
    assert code == 0
    payload = json.loads(out)
    assert (payload["cost_usd"], payload["cost_source"]) == ("1.4960055000", "computed")
    tier = " (long context, over 272000 input tokens)"
    assert [(p["part"], p["amount"]) for p in payload["breakdown"]] == [
        ("input_tokens" + tier, "1.1100050000"),
        ("cached_input_tokens" + tier, "0.0250000000"),
        ("output_tokens" + tier, "0.2250000000"),
        ("regional processing uplift", "0.1360005000"),
    ]
    assert payload["breakdown"][-1]["per"] == "% of tokens"


def test_cost_command_priority_over_threshold_exits_3_with_reason() -> None:
    code, out, _ = _cli(
        *("cost", "--model", "gpt-5.4", "--prompt-tokens", "300000", "--completion-tokens", "1"),
        *("--service-tier", "priority", "--at", "2026-12-01T00:00:00Z"),
    )
    assert code == 3
    assert out.strip() == (
        "gpt-5.4: unpriced (no long-context rate (over 272000 input tokens) is published "
        "for this mode)"
    )


def test_prices_show_lists_the_tier_and_the_uplift() -> None:
    code, out, _ = _cli("prices", "show", "gpt-5.4-pro", "--at", "2026-12-01", "--json")
    assert code == 0
    prices = json.loads(out)["prices"]
    assert prices["long_context"] == {
        "above_input_tokens": 272000,
        "input_factor": "2",
        "output_factor": "1.5",
        "modes": ["batch", "flex", "standard"],
    }
    assert prices["regional_uplift_pct"] == "10"
    nano = json.loads(_cli("prices", "show", "gpt-5.4-nano", "--at", "2026-12-01", "--json")[1])
    assert "long_context" not in nano["prices"] and nano["prices"]["regional_uplift_pct"] == "10"


@pytest.mark.parametrize(("prompt", "tier"), [(272_000, None), (272_001, None), (272_001, "flex")])
def test_hard_budget_reservation_bounds_the_long_context_and_regional_cost(
    prompt: int, tier: str | None
) -> None:
    from collector.budgets import catalog_prices, worst_case_cost

    prices = catalog_prices("gpt-5.4", AT, tier)
    assert prices is not None
    reserved = worst_case_cost(prices, prompt, 10_000)
    settled = compute_cost(
        _usage(prompt, cached=0), "gpt-5.4", AT, service_tier=tier, regional=True
    ).cost_usd
    assert settled is not None and reserved == settled  # no cached tokens: the bound is tight
