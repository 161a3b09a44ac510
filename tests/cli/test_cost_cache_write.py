"""``spendscope cost --usage`` with prompt-cache writes, as Chat and Responses report them.

gpt-6-sol: input $2, cached $0.20, cache write $2.50, output $10 per 1M; gpt-5.6-terra:
input $2, cached $0.20, cache write $2.50, output $12.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from collector.cli.pricing import register
from tests.cli.test_cost import cost as cost_at

AT = "2026-12-07T00:00:00Z"


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    register(app)
    return app


def cost(app: typer.Typer, tmp_path: Path, usage: Any, *args: str) -> dict[str, Any]:
    return cost_at(app, tmp_path, usage, *args, at=AT)


def test_chat_usage_with_cache_writes(app: typer.Typer, tmp_path: Path) -> None:
    usage = {
        "prompt_tokens": 5000, "completion_tokens": 400, "total_tokens": 5400,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0,
                                  "cache_write_tokens": 3072},
    }  # fmt: skip
    out = cost(app, tmp_path, usage, "--model", "gpt-6-sol", "--endpoint", "chat")
    # 904 × 2 + 1,024 × 0.20 + 3,072 × 2.50 + 400 × 10 = 13,692.8 per 1M
    assert (out["cost_usd"], out["cost_source"]) == ("0.0136928000", "computed")
    parts = {p["part"]: p for p in out["breakdown"]}
    write = parts["cache_write_tokens"]
    assert (Decimal(write["units"]), Decimal(write["rate"])) == (Decimal(3072), Decimal("2.50"))


def test_responses_usage_with_cache_writes(app: typer.Typer, tmp_path: Path) -> None:
    usage = {
        "input_tokens": 5000, "output_tokens": 400, "total_tokens": 5400,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 4096},
        "output_tokens_details": {"reasoning_tokens": 100},
    }  # fmt: skip
    out = cost(app, tmp_path, usage, "--model", "gpt-5.6-terra", "--endpoint", "responses")
    # 904 × 2 + 4,096 × 2.50 + 400 × 12 = 16,848 per 1M
    assert (out["cost_usd"], out["cost_source"]) == ("0.0168480000", "computed")


def test_writes_beyond_the_prompt_are_one_line_exit_2(app: typer.Typer, tmp_path: Path) -> None:
    usage = {
        "input_tokens": 100, "output_tokens": 1, "total_tokens": 101,
        "input_tokens_details": {"cached_tokens": 50, "cache_write_tokens": 60},
    }  # fmt: skip
    file = tmp_path / "usage.json"
    file.write_text(json.dumps(usage))
    result = CliRunner().invoke(
        app, ["cost", "--usage", str(file), "--model", "gpt-6-sol", "--at", AT]
    )
    assert result.exit_code == 2
    assert "cache_write_tokens cannot exceed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
