"""Embeddings, models, legacy completions, moderations, audio and images via the SDK."""

from __future__ import annotations

import base64
import io
import struct
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from collector.mock_upstream._media import wav_bytes, wav_seconds
from collector.tokens import count_text_tokens

Validate = Callable[[Any, str], None]


def test_embeddings_float(client: openai.OpenAI, openapi: Validate) -> None:
    raw = client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["alpha", "beta"], encoding_format="float"
    )
    openapi(raw.http_response.json(), "CreateEmbeddingResponse")
    result = raw.parse()
    assert [len(d.embedding) for d in result.data] == [1536, 1536]
    assert abs(sum(v * v for v in result.data[0].embedding) - 1.0) < 1e-3
    expected = count_text_tokens("alpha", "text-embedding-3-small") + count_text_tokens(
        "beta", "text-embedding-3-small"
    )
    assert result.usage.prompt_tokens == expected == result.usage.total_tokens


def test_embeddings_base64_and_dimensions(client: openai.OpenAI) -> None:
    raw = client.embeddings.with_raw_response.create(
        model="text-embedding-3-large", input="x", encoding_format="base64", dimensions=256
    )
    body = raw.http_response.json()
    vector = struct.unpack("<256f", base64.b64decode(body["data"][0]["embedding"]))
    assert abs(sum(v * v for v in vector) - 1.0) < 1e-3


def test_sdk_decodes_base64_embeddings(client: openai.OpenAI) -> None:
    # The SDK asks for base64 by default and decodes it: the vectors must survive that.
    result = client.embeddings.create(model="text-embedding-3-small", input="x", dimensions=64)
    assert len(result.data[0].embedding) == 64


def test_embeddings_dimensions_rejected_for_ada(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="text-embedding-ada-002", input="x", dimensions=64)


def test_models_list_and_get(client: openai.OpenAI, openapi: Validate) -> None:
    raw = client.models.with_raw_response.list()
    openapi(raw.http_response.json(), "ListModelsResponse")
    ids = [m.id for m in raw.parse()]
    assert "gpt-4o-mini" in ids and "text-embedding-3-small" in ids
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_legacy_completions(client: openai.OpenAI, openapi: Validate) -> None:
    raw = client.completions.with_raw_response.create(
        model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=7
    )
    openapi(raw.http_response.json(), "CreateCompletionResponse")
    result = raw.parse()
    assert result.usage is not None
    assert result.usage.prompt_tokens == count_text_tokens("Say hi", "gpt-3.5-turbo-instruct")
    assert result.usage.completion_tokens == count_text_tokens(result.choices[0].text, "gpt-4")
    assert result.usage.completion_tokens <= 7


def test_legacy_completions_stream(client: openai.OpenAI) -> None:
    chunks = list(
        client.completions.create(
            model="gpt-3.5-turbo-instruct",
            prompt="x",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == count_text_tokens(text, "gpt-4")


def test_moderations(client: openai.OpenAI, openapi: Validate) -> None:
    raw = client.moderations.with_raw_response.create(input=["fine", "bad [flag:violence]"])
    openapi(raw.http_response.json(), "CreateModerationResponse")
    result = raw.parse()
    assert result.model == "omni-moderation-2024-09-26"
    assert [r.flagged for r in result.results] == [False, True]
    assert result.results[1].categories.violence is True


def test_transcription_duration_from_wav(client: openai.OpenAI, openapi: Validate) -> None:
    audio = wav_bytes(3.2)
    assert wav_seconds(audio) == pytest.approx(3.2, abs=0.01)
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=("a.wav", io.BytesIO(audio), "audio/wav")
    )
    body = raw.http_response.json()
    openapi(body, "CreateTranscriptionResponseJson")
    assert body["usage"] == {"type": "duration", "seconds": 4}
    assert body["text"]


def test_transcription_duration_from_header_and_token_usage(client: openai.OpenAI) -> None:
    raw = client.audio.transcriptions.with_raw_response.create(
        model="gpt-4o-transcribe",
        file=("a.mp3", io.BytesIO(b"\x00" * 100), "audio/mpeg"),
        extra_headers={"x-mock-audio-seconds": "60"},
    )
    usage = raw.http_response.json()["usage"]
    assert usage["type"] == "tokens" and usage["input_tokens"] == 600


def test_speech_returns_audio_bytes(client: openai.OpenAI) -> None:
    audio = client.audio.speech.create(
        model="tts-1", voice="alloy", input="x" * 150, response_format="wav"
    )
    assert wav_seconds(audio.content) == pytest.approx(10.0, abs=0.01)
    mp3 = client.audio.speech.create(model="tts-1", voice="alloy", input="hello")
    assert len(mp3.content) > 1000


def test_images_url_and_gpt_image_usage(client: openai.OpenAI, openapi: Validate) -> None:
    raw = client.images.with_raw_response.generate(model="dall-e-3", prompt="a chart")
    openapi(raw.http_response.json(), "ImagesResponse")
    url = raw.parse().data[0].url  # type: ignore[index]
    assert url is not None and httpx.get(url).content.startswith(b"\x89PNG")
    raw = client.images.with_raw_response.generate(model="gpt-image-1", prompt="a chart", n=2)
    body = raw.http_response.json()
    openapi(body, "ImagesResponse")
    assert body["usage"]["output_tokens"] == 2 * 1056
    assert base64.b64decode(body["data"][0]["b64_json"]).startswith(b"\x89PNG")
