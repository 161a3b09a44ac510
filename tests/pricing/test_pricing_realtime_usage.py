"""Realtime and audio usage in either spelling is priced as audio; without a text/audio
split it is an estimate with its basis, never an exact text price.

Realtime's ``response.done`` spells its details ``input_token_details`` /
``output_token_details``; Responses spells them ``input_tokens_details`` /
``output_tokens_details``. A client that reports a Realtime usage in the Responses spelling,
or a voice model answering through /v1/responses, says "audio" in the same fields: those
tokens cost 8x (input) and 4x (output) the text rate on gpt-realtime.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from collector.cli.pricing import register
from collector.gateway._intake import Kind
from collector.gateway._usage import usage_from_wire
from collector.ingest import price_reported, read_event
from collector.pricing import TEXT_ONLY_NOTE, compute_cost, modality_note, usage_from_api
from collector.usage import CostSource, Usage

AT = datetime(2026, 1, 1, tzinfo=UTC)
# gpt-realtime: text $4 / cached $0.40 / out $16; audio $32 / cached $0.40 / out $64 per 1M.
# 1,000 in (600 audio, of which 200 cached; 100 text cached) + 500 out (400 audio):
# text in 300 × 4 + cached text 100 × 0.40 + audio 400 × 32 + cached audio 200 × 0.40
# + text out 100 × 16 + audio out 400 × 64 = 1,200 + 40 + 12,800 + 80 + 1,600 + 25,600
# = 41,320 per 1M → $0.04132
EXPECTED = Decimal("0.04132")
REALTIME_SPELLING = {
    "total_tokens": 1500, "input_tokens": 1000, "output_tokens": 500,
    "input_token_details": {
        "cached_tokens": 300, "text_tokens": 400, "audio_tokens": 600,
        "cached_tokens_details": {"text_tokens": 100, "audio_tokens": 200},
    },
    "output_token_details": {"text_tokens": 100, "audio_tokens": 400},
}  # fmt: skip
RESPONSES_SPELLING = {
    "total_tokens": 1500, "input_tokens": 1000, "output_tokens": 500,
    "input_tokens_details": REALTIME_SPELLING["input_token_details"],
    "output_tokens_details": REALTIME_SPELLING["output_token_details"],
}  # fmt: skip
AUDIO = Usage(
    prompt_tokens=1000, completion_tokens=500, cached_tokens=300, audio_prompt_tokens=600,
    cached_audio_tokens=200, audio_completion_tokens=400,
)  # fmt: skip


@pytest.mark.parametrize("endpoint", ["realtime", "responses"])
@pytest.mark.parametrize("shape", [REALTIME_SPELLING, RESPONSES_SPELLING])
def test_audio_details_are_audio_in_either_spelling(endpoint: str, shape: dict[str, Any]) -> None:
    usage = usage_from_api(endpoint, shape)
    assert usage == AUDIO
    cost = compute_cost(usage, "gpt-realtime", AT)
    assert (cost.cost_usd, cost.cost_source) == (EXPECTED, CostSource.COMPUTED)
    assert modality_note(endpoint, shape) is None


def test_the_gateway_reads_audio_output_in_either_spelling() -> None:
    for shape in (REALTIME_SPELLING, RESPONSES_SPELLING):
        assert usage_from_wire(Kind.RESPONSES, shape) == AUDIO


def test_a_realtime_usage_without_a_split_is_an_estimate() -> None:
    bare = {"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500}
    assert modality_note("realtime", bare) == TEXT_ONLY_NOTE
    assert modality_note("responses", bare) is None  # text models: the split is not needed
    assert modality_note("realtime", {"input_tokens": 0, "output_tokens": 0}) is None


def _event(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": "rt-1", "model": "gpt-realtime", "endpoint": "realtime", "usage": usage,
        "started_at": AT.isoformat(), "latency_ms": 900,
    }  # fmt: skip


def test_ingest_books_realtime_audio_and_marks_a_bare_usage_estimated() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    priced = price_reported(read_event(_event(RESPONSES_SPELLING), now), ())
    assert (priced.cost_usd, priced.cost_source) == (EXPECTED, CostSource.REPORTED)
    bare = {"input_tokens": 1000, "output_tokens": 500}
    estimate = price_reported(read_event(_event(bare), now), ())
    # 1,000 × 4 + 500 × 16 = 12,000 per 1M, as text: an estimate, with its basis
    assert (estimate.cost_usd, estimate.cost_source) == (Decimal("0.012"), CostSource.ESTIMATED)
    assert estimate.note == TEXT_ONLY_NOTE


def test_cost_command_marks_a_bare_realtime_usage_estimated(tmp_path: Path) -> None:
    app = typer.Typer(pretty_exceptions_enable=False)
    register(app)
    bare = tmp_path / "usage.json"
    bare.write_text(json.dumps({"input_tokens": 1000, "output_tokens": 500}))
    args = ["cost", "--model", "gpt-realtime", "--at", "2026-01-01", "--json"]
    result = CliRunner().invoke(app, [*args, "--usage", str(bare), "--endpoint", "realtime"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["cost_usd"], payload["cost_source"]) == ("0.0120000000", "estimated")
    assert payload["note"] == TEXT_ONLY_NOTE
    split = tmp_path / "split.json"
    split.write_text(json.dumps(RESPONSES_SPELLING))
    result = CliRunner().invoke(app, [*args, "--usage", str(split)])  # guessed: responses
    assert json.loads(result.stdout)["cost_usd"] == "0.0413200000"
