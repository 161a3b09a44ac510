"""``spendscope cost --usage``: the API's own usage object, per endpoint, priced part by part.

Every expected amount is worked out in a comment from the catalog's per-1M prices; the
breakdown's amounts must add up exactly to ``cost_usd``.
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

AT = "2026-01-01T00:00:00Z"


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    register(app)
    return app


def cost(app: typer.Typer, tmp_path: Path, usage: Any, *args: str, at: str = AT) -> dict[str, Any]:
    """``cost --usage`` as JSON; its breakdown must add up to its total."""
    file = tmp_path / "usage.json"
    file.write_text(json.dumps(usage))
    result = CliRunner().invoke(app, ["cost", "--usage", str(file), "--at", at, "--json", *args])
    assert result.exit_code == 0, result.stderr
    payload: dict[str, Any] = json.loads(result.stdout)
    total = sum((Decimal(p["amount"]) for p in payload["breakdown"]), Decimal(0))
    assert total == Decimal(payload["cost_usd"])
    return payload


def parts(payload: dict[str, Any]) -> dict[str, str]:
    return {p["part"]: p["amount"] for p in payload["breakdown"]}


def test_chat(app: typer.Typer, tmp_path: Path) -> None:
    usage = {
        "prompt_tokens": 2000, "completion_tokens": 500, "total_tokens": 2500,
        "prompt_tokens_details": {"cached_tokens": 1000, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }  # fmt: skip
    out = cost(app, tmp_path, usage, "--model", "gpt-4o-mini", "--endpoint", "chat")
    # 1000 × 0.15 + 1000 × 0.075 + 500 × 0.60 = 525 per 1M
    assert out["cost_usd"] == "0.0005250000"
    assert parts(out) == {
        "input_tokens": "0.0001500000",
        "cached_input_tokens": "0.0000750000",
        "output_tokens": "0.0003000000",
    }


def test_responses_with_two_web_searches(app: typer.Typer, tmp_path: Path) -> None:
    """The issue's example: 0.023 in tokens + 2 × $0.01 = 0.043."""
    usage = {
        "input_tokens": 10000, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 1050, "output_tokens_details": {"reasoning_tokens": 512},
        "total_tokens": 11050,
    }  # fmt: skip
    out = cost(app, tmp_path, {"usage": usage}, "--model", "gpt-5", "--tool-calls", "web_search=2")
    assert (out["cost_usd"], out["price_id"]) == ("0.0430000000", "gpt-5-2025-08-07@2025-08-07")
    assert parts(out) == {
        "input_tokens": "0.0125000000",
        "output_tokens": "0.0105000000",
        "web_search_calls": "0.0200000000",
    }


def test_embeddings(app: typer.Typer, tmp_path: Path) -> None:
    usage = {"prompt_tokens": 5000, "total_tokens": 5000}
    out = cost(
        app, tmp_path, usage, "--model", "text-embedding-3-small", "--endpoint", "embeddings"
    )
    assert out["cost_usd"] == "0.0001000000"  # 5000 × 0.02 per 1M


def test_chat_in_batch(app: typer.Typer, tmp_path: Path) -> None:
    usage = {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}
    out = cost(app, tmp_path, usage, "--model", "gpt-4o-mini", "--batch")
    assert out["cost_usd"] == "0.0003750000"  # 1000 × 0.075 + 1000 × 0.30 (batch) per 1M


def test_completions(app: typer.Typer, tmp_path: Path) -> None:
    usage = {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}
    out = cost(
        app, tmp_path, usage, "--model", "gpt-3.5-turbo-instruct", "--endpoint", "completions"
    )
    assert out["cost_usd"] == "0.0035000000"  # 1000 × 1.50 + 1000 × 2.00 per 1M


def test_images(app: typer.Typer, tmp_path: Path) -> None:
    usage = {
        "input_tokens": 50, "input_tokens_details": {"text_tokens": 40, "image_tokens": 10},
        "output_tokens": 4160, "total_tokens": 4210,
    }  # fmt: skip
    out = cost(app, tmp_path, usage, "--model", "gpt-image-1", "--endpoint", "images")
    # 40 × 5 + 10 × 10 + 4160 × 40 = 166,700 per 1M
    assert out["cost_usd"] == "0.1667000000"
    assert parts(out)["image_output_tokens"] == "0.1664000000"


def test_speech_sse_usage(app: typer.Typer, tmp_path: Path) -> None:
    usage = {"input_tokens": 14, "output_tokens": 101, "total_tokens": 115}
    out = cost(app, tmp_path, usage, "--model", "gpt-4o-mini-tts", "--endpoint", "speech")
    # 14 × 0.60 + 101 audio × 12 = 1,220.4 per 1M
    assert out["cost_usd"] == "0.0012204000"
    assert parts(out) == {"input_tokens": "0.0000084000", "audio_output_tokens": "0.0012120000"}


@pytest.mark.parametrize(
    ("model", "usage", "expected"),
    [
        # 100 audio × 6 + 50 × 10 = 1,100 per 1M
        ("gpt-4o-transcribe", {"type": "tokens", "input_tokens": 100, "output_tokens": 50,
          "input_token_details": {"text_tokens": 0, "audio_tokens": 100}, "total_tokens": 150},
         "0.0011000000"),
        # 90 s = 1.5 min × $0.006
        ("whisper-1", {"type": "duration", "seconds": 90}, "0.0090000000"),
    ],
)  # fmt: skip
def test_transcription(
    app: typer.Typer, tmp_path: Path, model: str, usage: dict[str, Any], expected: str
) -> None:
    out = cost(app, tmp_path, usage, "--model", model, "--endpoint", "transcription")
    assert out["cost_usd"] == expected


def test_realtime_response_done_usage(app: typer.Typer, tmp_path: Path) -> None:
    usage = {
        "total_tokens": 1500, "input_tokens": 1000, "output_tokens": 500,
        "input_token_details": {
            "text_tokens": 400, "audio_tokens": 600, "image_tokens": 0, "cached_tokens": 300,
            "cached_tokens_details": {"text_tokens": 100, "audio_tokens": 200},
        },
        "output_token_details": {"text_tokens": 100, "audio_tokens": 400},
    }  # fmt: skip
    out = cost(app, tmp_path, usage, "--model", "gpt-realtime", "--endpoint", "realtime")
    # text 300 × 4 + cached text 100 × 0.40 + audio 400 × 32 + cached audio 200 × 0.40
    # + text out 100 × 16 + audio out 400 × 64 = 41,320 per 1M
    assert out["cost_usd"] == "0.0413200000"
    assert parts(out)["cached_audio_input_tokens"] == "0.0000800000"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("--usage", "/nonexistent/usage.json"), None, "cannot read /nonexistent/usage.json"),
        (("--usage", "-"), "{not json", "- is not valid JSON"),
        (("--usage", "-", "--endpoint", "fax"), "{}", "unknown endpoint 'fax'"),
        (("--usage", "-"), '{"prompt_tokens": -5}', "prompt_tokens must be a non-negative"),
        (("--usage", "-"), "[1, 2]", "the usage must be a JSON object"),
        (("--usage", "-", "--tool-calls", "web_search=-1"), "{}", "--tool-calls takes TOOL=N"),
        (("--usage", "-", "--prompt-tokens", "5"), "{}", "--usage replaces the token flags"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    app: typer.Typer, args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    result = CliRunner().invoke(app, ["cost", "--model", "gpt-4o", *args], input=stdin)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_unpriced_model_from_usage_exits_3(app: typer.Typer, tmp_path: Path) -> None:
    file = tmp_path / "u.json"
    file.write_text(json.dumps({"prompt_tokens": 10, "completion_tokens": 1}))
    result = CliRunner().invoke(app, ["cost", "--model", "homebrew", "--usage", str(file)])
    assert result.exit_code == 3
