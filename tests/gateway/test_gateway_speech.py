"""Speech through the gateway with the official SDK: never a silent $0.

tts-1 bills characters (exact, from the request); gpt-4o-mini-tts bills tokens, which a bare
audio body does not report: counted and estimated (``estimated``, basis in ``cost_note``),
or read from the usage of ``stream_format: "sse"`` (``computed``).
"""

from __future__ import annotations

import math
from decimal import Decimal

from collector.tokens import count_text_tokens
from tests.gateway._support import Gateway

TEXT = "Hello from the gateway, spoken by a small model."
MILLION = Decimal(1_000_000)
# gpt-4o-mini-tts@2025-03-20: text input $0.60, audio output $12.00 per 1M tokens
INPUT, AUDIO_OUT = Decimal("0.60"), Decimal("12.00")


def _mock_audio_tokens(text: str) -> int:
    """The mock speaks 15 characters a second (at least 0.5 s): 1,250 audio tokens a minute."""
    seconds = max(0.5, len(text) / 15)
    return math.ceil(seconds * 1250 / 60)


def test_speech_per_character_stays_computed(gateway: Gateway) -> None:
    raw = gateway.client().audio.speech.with_raw_response.create(
        model="tts-1", voice="alloy", input=TEXT
    )
    row = gateway.only_request()
    # 48 characters × $15 / 1M, known before the (chunked) audio goes out
    assert (row.cost_source, row.cost_usd) == ("computed", len(TEXT) * Decimal(15) / MILLION)
    assert raw.headers["x-spendscope-cost-usd"] == str(row.cost_usd)
    assert row.cost_note is None


def test_speech_per_token_from_a_chunked_body_is_estimated(gateway: Gateway) -> None:
    audio = gateway.client().audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input=TEXT)
    row = gateway.only_request()
    assert audio.response.headers.get("x-spendscope-cost-usd") is None  # known only at the end
    prompt = count_text_tokens(TEXT, "gpt-4o-mini-tts")
    # mp3 at 16,000 B/s: the body's size gives its seconds, × 1,250 tokens a minute
    out = math.ceil(Decimal(len(audio.content)) / 16_000 * 1250 / 60)
    assert (row.prompt_tokens, row.audio_completion_tokens, row.characters) == (
        prompt,
        out,
        len(TEXT),
    )
    assert row.cost_source == "estimated"
    assert row.cost_usd == (prompt * INPUT + out * AUDIO_OUT) / MILLION
    assert row.cost_usd > 0
    assert row.cost_note is not None and "audio output tokens" in row.cost_note


def test_speech_with_a_length_is_priced_before_the_audio_goes_out(gateway: Gateway) -> None:
    client = gateway.client()
    raw = client.audio.speech.with_raw_response.create(
        model="gpt-4o-mini-tts",
        voice="alloy",
        input=TEXT,
        response_format="wav",
        extra_headers={"x-mock-speech-length": "1"},
    )
    row = gateway.only_request()
    assert row.cost_source == "estimated" and row.cost_usd is not None and row.cost_usd > 0
    assert raw.headers["x-spendscope-cost-usd"] == str(row.cost_usd)
    assert "audio/wav at 48000 B/s" in (row.cost_note or "")


def test_speech_sse_uses_the_usage_the_stream_reports(gateway: Gateway) -> None:
    client = gateway.client()
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="alloy", input=TEXT, stream_format="sse"
    ) as response:
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert any("speech.audio.done" in line for line in events)
    row = gateway.only_request()
    prompt, out = count_text_tokens(TEXT, "gpt-4o-mini-tts"), _mock_audio_tokens(TEXT)
    assert (row.prompt_tokens, row.completion_tokens, row.audio_completion_tokens) == (
        prompt,
        out,
        out,
    )
    assert (row.cost_source, row.cost_note) == ("computed", None)
    assert row.cost_usd == (prompt * INPUT + out * AUDIO_OUT) / MILLION
