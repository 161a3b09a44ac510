"""``spendscope reconcile`` of traffic OpenAI bills per image, character, second or session:
the openai SDK → gateway → mock upstream, whose ledger bills what it served on the images,
audio and code interpreter sessions Usage APIs and their cost line items."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from collector.mock_upstream._media import wav_bytes
from tests.reconcile.conftest import Stack, StackFactory


def _media_traffic(s: Stack) -> dict[str, Decimal]:
    """Images (generation, gpt-image, variation), speech, a transcription and a container;
    what spendscope metered per served model ("" for the container)."""
    client = s.gateway.client()
    client.images.generate(model="dall-e-3", prompt="a ledger", size="1024x1024", quality="hd")
    client.images.generate(model="gpt-image-1", prompt="an invoice", n=2)
    client.images.create_variation(image=("a.png", io.BytesIO(b"\x89PNG"), "image/png"), n=3)
    client.audio.speech.create(model="tts-1", voice="alloy", input="Every dollar reconciled.")
    said = "The month closes when every line matches."
    client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input=said)
    client.audio.transcriptions.create(
        model="whisper-1", file=("call.wav", io.BytesIO(wav_bytes(61.2)), "audio/wav")
    )
    client.containers.create(name="month-close")
    rows = s.gateway.requests()
    sources = {(r.model_served or r.model_requested or ""): r.cost_source for r in rows}
    assert len(rows) == 7 and set(sources.values()) == {"computed", "estimated"}, sources
    # bare audio: the gateway estimates gpt-4o-mini-tts's audio tokens from the bytes
    assert [m for m, source in sources.items() if source == "estimated"] == ["gpt-4o-mini-tts"]
    metered: dict[str, Decimal] = {}
    for r in rows:
        model = r.model_served or r.model_requested or ""
        metered[model] = metered.get(model, Decimal(0)) + (r.cost_usd or Decimal(0))
    return metered


def _json(s: Stack, *args: str) -> dict[str, Any]:
    code, out, err = s.reconcile(*args, "--json")
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def test_images_audio_and_sessions_reconcile_to_100_percent(stack: StackFactory) -> None:
    s = stack()
    metered = _media_traffic(s)
    day = datetime.now(UTC).date().isoformat()
    out = _json(s, "--from", day, "--to", day)
    total = sum(metered.values(), Decimal(0)).quantize(Decimal("1e-10"))
    assert total > 0
    assert out["totals"]["billed_usd"] == out["totals"]["metered_usd"] == str(total)
    assert out["totals"]["coverage"] == "1.000000" and out["unmetered"] == []
    lines = {line["model"]: line for line in out["lines"]}
    assert set(lines) == set(metered)
    assert {line["kind"] for line in out["lines"]} == {"match"}, out["lines"]
    for model, usd in metered.items():
        assert Decimal(lines[model]["billed_usd"]) == usd
    # the requests each Usage API counted: images and audio per request, one session
    assert lines["dall-e-2"]["billed_requests"] == lines["dall-e-2"]["metered_requests"] == 1
    assert lines[""]["billed_requests"] == lines[""]["metered_requests"] == 1


def test_a_wrong_image_price_is_named_without_tokens(stack: StackFactory) -> None:
    s = stack(price_drift=("dall-e-3", "1.5"))
    metered = _media_traffic(s)
    day = datetime.now(UTC).date().isoformat()
    out = _json(s, "--from", day, "--to", day)
    lines = {line["model"]: line for line in out["lines"]}
    wrong = lines["dall-e-3"]
    assert wrong["kind"] == "price"
    assert Decimal(wrong["billed_usd"]) == metered["dall-e-3"] * Decimal("1.5")
    assert "per image, character, second or session" in wrong["explanation"]
    assert {line["kind"] for m, line in lines.items() if m != "dall-e-3"} == {"match"}
