"""prices diff: the catalog and overrides against a LiteLLM table, with both values shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import typer
from typer.testing import CliRunner

from collector.cli.pricing import register
from collector.pricing import PriceOverride, diff_prices, parse_litellm_prices

AT = datetime(2026, 12, 1, tzinfo=UTC)
TABLE = {
    "gpt-4o": {
        "litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2.5e-06,
        "cache_read_input_token_cost": 1.25e-06, "output_cost_per_token": 1e-05,
        "input_cost_per_token_batches": 1.25e-06, "output_cost_per_token_batches": 5e-06,
    },
    "gpt-4o-mini": {
        "litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1.5e-07,
        "output_cost_per_token": 7e-07,
    },
    "gpt-9.9": {
        "litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 5e-06,
        "output_cost_per_token": 3e-05,
    },
    "gpt-4o-mini-2031-01-01": {
        "litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1.5e-07,
        "output_cost_per_token": 6e-07,
    },
    "claude-x": {"litellm_provider": "anthropic", "input_cost_per_token": 1e-06},
}  # fmt: skip


def test_missing_and_differing_with_both_values() -> None:
    report = diff_prices(parse_litellm_prices(TABLE), AT)
    # gpt-9.9 is unpriced here; the dated snapshot would only be an assumed price
    assert [p.model for p in report.missing] == ["gpt-9.9", "gpt-4o-mini-2031-01-01"]
    assert [(d.model, d.field, d.ours, d.theirs) for d in report.differing] == [
        ("gpt-4o-mini", "output", Decimal("0.60"), Decimal("0.7")),
    ]
    assert report.matching == 1  # gpt-4o: standard, cached and batch rates all agree


def test_an_override_counts_as_priced_and_its_rates_are_compared() -> None:
    override = PriceOverride(
        model="gpt-9.9", effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        input_per_1m=Decimal(5), output_per_1m=Decimal(31),
    )  # fmt: skip
    report = diff_prices(parse_litellm_prices(TABLE), AT, overrides=(override,))
    assert "gpt-9.9" not in [p.model for p in report.missing]
    assert ("gpt-9.9", "output", Decimal(31), Decimal(30)) in [
        (d.model, d.field, d.ours, d.theirs) for d in report.differing
    ]


def test_cli_json_and_bad_file(tmp_path: Path) -> None:
    app = typer.Typer(pretty_exceptions_enable=False)
    register(app)
    file = tmp_path / "litellm.json"
    file.write_text(json.dumps(TABLE))
    result = CliRunner().invoke(
        app, ["prices", "diff", "--litellm", str(file), "--json", "--at", "2026-12-01"]
    )
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["missing"][0] == {
        "model": "gpt-9.9", "mode": "chat", "litellm": {"input": "5", "output": "30"},
    }  # fmt: skip
    assert payload["differing"] == [
        {"model": "gpt-4o-mini", "field": "output", "ours": "0.6", "litellm": "0.7",
         "price_id": "gpt-4o-mini-2024-07-18@2024-07-18"},
    ]  # fmt: skip
    missing = CliRunner().invoke(app, ["prices", "diff", "--litellm", str(tmp_path / "no.json")])
    assert missing.exit_code == 2 and missing.stderr.startswith("error: cannot read")
