"""The other endpoints, attribution, named upstreams and health."""

from __future__ import annotations

import io
import struct
from decimal import Decimal

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from collector.mock_upstream import MockConfig, run_in_thread
from tests.gateway._support import UPSTREAM_KEY, Gateway, GatewayFactory

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def _wav(seconds: int, rate: int = 8000) -> bytes:
    """A silent mono 16-bit WAV of ``seconds``."""
    data = b"\0\0" * rate * seconds
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16,
        b"data", len(data),
    )  # fmt: skip
    return header + data


def test_speech_streams_audio_and_bills_characters(gateway: Gateway) -> None:
    text = "Hello from the gateway."
    audio = gateway.client().audio.speech.create(model="tts-1", voice="alloy", input=text)
    assert len(audio.content) > 0
    row = gateway.only_request()
    assert (row.endpoint, row.outcome, row.characters) == ("/v1/audio/speech", "success", len(text))
    assert row.cost_source == "computed" and row.cost_usd is not None and row.cost_usd > 0


def test_transcription_multipart_passthrough(gateway: Gateway) -> None:
    result = gateway.client().audio.transcriptions.create(
        model="whisper-1", file=("a.wav", io.BytesIO(_wav(3)), "audio/wav")
    )
    assert result.text
    row = gateway.only_request()
    assert (row.model_requested, row.outcome) == ("whisper-1", "success")
    assert row.audio_seconds == Decimal(3) and row.cost_source == "computed"


def test_images_and_moderations(gateway: Gateway) -> None:
    client = gateway.client()
    images = client.images.generate(model="dall-e-3", prompt="a cat", size="1024x1024", n=1)
    moderation = client.moderations.create(model="omni-moderation-latest", input="hello")
    assert images.data and moderation.results
    image_row, moderation_row = gateway.requests()
    assert (image_row.images, image_row.cost_source) == (1, "computed")
    assert image_row.cost_usd is not None and image_row.cost_usd > 0
    assert (moderation_row.endpoint, moderation_row.outcome) == ("/v1/moderations", "success")
    assert (moderation_row.cost_source, moderation_row.price_id) == ("computed", "free:moderations")
    assert moderation_row.cost_usd == Decimal(0)


def test_free_endpoints_are_a_named_zero_not_unpriced(gateway: Gateway) -> None:
    """OpenAI does not charge for models or moderations: $0 with a ``free:`` price, no alert."""
    client = gateway.client()
    listed = client.models.list()
    one = client.models.retrieve("gpt-4o-mini")
    client.moderations.create(input="no model given")
    assert listed.data and one.id == "gpt-4o-mini"
    rows = gateway.requests()
    assert [(r.endpoint, r.outcome, r.cost_source, r.price_id, r.cost_usd) for r in rows] == [
        ("/v1/models", "success", "computed", "free:models", Decimal(0)),
        ("/v1/models/gpt-4o-mini", "success", "computed", "free:models", Decimal(0)),
        ("/v1/moderations", "success", "computed", "free:moderations", Decimal(0)),
    ]
    assert [a.cost_usd for r in rows for a in gateway.attempts(r.id)] == [Decimal(0)] * 3


def test_unknown_paths_pass_through_and_are_recorded_unpriced(gateway: Gateway) -> None:
    client = gateway.client()
    files = client.files.list()
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")
    assert files.data == []
    rows = gateway.requests()
    assert [(r.endpoint, r.outcome, r.cost_source, r.price_id) for r in rows] == [
        ("/v1/files", "success", "unpriced", None),
        ("/v1/models/no-such-model", "client_error", "computed", None),  # nothing was served
    ]
    assert [r.cost_usd for r in rows] == [None, Decimal(0)]


def test_attribution_from_key_headers_and_body(gateway: Gateway) -> None:
    key = gateway.key(tags={"team": "search"})
    gateway.client(key).chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        user="body-user",
        extra_headers={
            "x-spendscope-user": "header-user",
            "x-spendscope-tags": "feature=autocomplete, env=prod",
            "x-spendscope-metadata": '{"trace_id": "abc123"}',
        },
    )
    row = gateway.only_request()
    assert row.end_user == "header-user"
    assert row.tags == {"team": "search", "feature": "autocomplete", "env": "prod"}
    assert row.metadata_ == {"trace_id": "abc123"}


def test_models_route_to_named_upstreams(make_gateway: GatewayFactory) -> None:
    with run_in_thread(MockConfig(require_key="sk-second")) as second:
        gw = make_gateway(
            upstreams={"second": second},
            upstream_keys={"second": "sk-second"},
            upstream_routes={"gpt-4.1*": "second"},
        )
        client = gw.client()
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        client.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES)
        rows = gw.requests()
    assert [(r.model_requested, r.upstream, r.outcome) for r in rows] == [
        ("gpt-4o-mini", "default", "success"),
        ("gpt-4.1-mini", "second", "success"),
    ]


def test_healthz(gateway: Gateway) -> None:
    gateway.client().embeddings.create(model="text-embedding-3-small", input="x")
    gateway.server.flush()
    health = httpx.get(gateway.base_url.removesuffix("/v1") + "/healthz").json()
    assert health["status"] == "ok" and health["degraded"] is False
    assert health["recorder_backlog"] == 0 and health["spool_pending"] == 0
    assert health["recorder"]["written"] == 1


def test_client_authorization_is_never_forwarded(gateway: Gateway) -> None:
    """The mock accepts only the gateway's key: a forwarded client key would be a 401."""
    key = gateway.key()
    gateway.client(key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    row = gateway.only_request()
    assert row.outcome == "success" and key != UPSTREAM_KEY
