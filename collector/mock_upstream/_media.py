"""Audio and image endpoints, billed by seconds, characters and images rather than tokens.

Transcription duration comes from, in order: header ``x-mock-audio-seconds``, form field
``mock_duration_s``, a WAV file's own header, else the upload size at 16 kB/s (128 kbit/s MP3).
"""

from __future__ import annotations

import base64
import math
import struct
import time
import zlib
from typing import Any

from aiohttp import web

from collector.mock_upstream._generate import JsonDict, resolve_model
from collector.mock_upstream._http import ApiError, bill, ctx_of, json_response
from collector.tokens import count_text_tokens

_MP3_BYTES_PER_S = 16_000
_PCM_BYTES_PER_S = 48_000  # 24 kHz, 16-bit, mono: what OpenAI's speech returns as pcm/wav.
_WORDS_PER_S = 2.5
# gpt-image-1 output tokens by quality and (square, rectangular) size, from OpenAI's pricing page.
_IMAGE_TOKENS = {"low": (272, 408), "medium": (1056, 1584), "high": (4160, 6240)}
IMAGE_INPUT_TOKENS = 194  # per uploaded image of an edit (gpt-image models)


def _png() -> bytes:
    """A valid 1x1 PNG, so b64_json and image URLs decode to a real image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x10\x80\xf0")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = _png()
PNG_B64 = base64.b64encode(PNG).decode()


def wav_seconds(data: bytes) -> float | None:
    """Duration of a PCM WAV from its ``fmt``/``data`` chunks; None if not a WAV."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    offset, byte_rate = 12, 0
    while offset + 8 <= len(data):
        kind = data[offset : offset + 4]
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        if kind == b"fmt " and size >= 12:
            byte_rate = int.from_bytes(data[offset + 16 : offset + 20], "little")
        if kind == b"data" and byte_rate:
            return min(size, len(data) - offset - 8) / byte_rate
        offset += 8 + size + (size & 1)
    return None


def wav_bytes(seconds: float) -> bytes:
    """A silent 24 kHz mono 16-bit WAV of ``seconds``."""
    size = int(seconds * _PCM_BYTES_PER_S) & ~1
    fmt = struct.pack("<HHIIHH", 1, 1, 24_000, _PCM_BYTES_PER_S, 2, 16)
    head = b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
    return head + b"data" + struct.pack("<I", size) + bytes(size)


async def transcriptions(request: web.Request) -> web.StreamResponse:
    """Transcription of a multipart upload; ``usage`` as OpenAI reports it per model family."""
    ctx = ctx_of(request)
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise ApiError(
            400,
            "Missing required parameter: 'file'.",
            param="file",
            code="missing_required_parameter",
        )
    _, served = resolve_model({"model": form.get("model")})
    audio = upload.file.read()
    seconds = _seconds(request, form.get("mock_duration_s"), audio)
    words = max(1, math.ceil(seconds * _WORDS_PER_S))
    text = "".join(ctx.state.bank.take(zlib.crc32(audio[:4096]) ^ len(audio), words))
    out_tokens = count_text_tokens(text, "gpt-4o")
    fmt = str(form.get("response_format") or "json")
    usage = _transcription_usage(served, seconds, out_tokens)
    bill(request, "transcription", served, usage)
    if fmt == "text":
        return web.Response(text=text + "\n", headers=ctx.headers(out_tokens, "text/plain"))
    payload: JsonDict = {"text": text, "usage": usage}
    if fmt == "verbose_json":
        payload = {
            "task": "transcribe",
            "language": "english",
            "duration": seconds,
            **payload,
            "segments": [],
        }
    return json_response(request, payload, out_tokens)


def _transcription_usage(served: str, seconds: float, out_tokens: int) -> JsonDict:
    """whisper-1 bills seconds (rounded up); gpt-4o transcribe models bill tokens."""
    if served.startswith("whisper"):
        return {"type": "duration", "seconds": math.ceil(seconds)}
    audio_tokens = math.ceil(seconds * 10)
    return {
        "type": "tokens",
        "input_tokens": audio_tokens,
        "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
        "output_tokens": out_tokens,
        "total_tokens": audio_tokens + out_tokens,
    }


def _seconds(request: web.Request, field: Any, audio: bytes) -> float:
    raw = request.headers.get("x-mock-audio-seconds") or (field if isinstance(field, str) else None)
    if raw is not None:
        try:
            value = float(raw)
        except ValueError:
            raise ApiError(400, f"audio seconds must be a number, got {raw!r}") from None
        if not 0 < value < 86_400:
            raise ApiError(400, "audio seconds must be in (0, 86400)")
        return value
    from_wav = wav_seconds(audio)
    return from_wav if from_wav is not None else max(0.1, len(audio) / _MP3_BYTES_PER_S)


async def images(request: web.Request) -> web.StreamResponse:
    """Image generation: 1x1 PNGs as ``url`` (served by the mock) or ``b64_json``."""
    body = {"model": "dall-e-2", **ctx_of(request).body}
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise _missing("prompt")
    return _image_answer(request, body, prompt, 0)


async def image_edits(request: web.Request) -> web.StreamResponse:
    """``/v1/images/edits`` (multipart): the prompt applied to one or more uploaded images."""
    body, uploads = await _image_form(request)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise _missing("prompt")
    return _image_answer(request, body, prompt, uploads)


async def image_variations(request: web.Request) -> web.StreamResponse:
    """``/v1/images/variations`` (multipart): variations of one image; dall-e-2 only."""
    body, uploads = await _image_form(request)
    if body["model"] != "dall-e-2":
        raise ApiError(400, "Invalid model: image variations support dall-e-2 only.", param="model")
    return _image_answer(request, body, "", uploads)


async def _image_form(request: web.Request) -> tuple[JsonDict, int]:
    """The form's text fields (``n`` as an int, ``model`` defaulting to dall-e-2) and how many
    images were uploaded (``image`` or ``image[]``; at least one is required)."""
    form = await request.post()
    body: JsonDict = {"model": "dall-e-2"}
    uploads = 0
    for name, value in form.items():
        if isinstance(value, web.FileField):
            uploads += name in ("image", "image[]")
        elif name == "n":
            body["n"] = int(value) if value.isdigit() else value
        else:
            body[name] = value
    if not uploads:
        raise _missing("image")
    return body, uploads


def _missing(name: str) -> ApiError:
    return ApiError(400, f"Missing required parameter: '{name}'.", param=name,
                    code="missing_required_parameter")  # fmt: skip


def _image_answer(
    request: web.Request, body: JsonDict, prompt: str, uploads: int
) -> web.StreamResponse:
    """``n`` images; gpt-image models report token usage (input images included)."""
    _, served = resolve_model(body)
    n = body.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:
        raise ApiError(400, "Invalid 'n': must be between 1 and 10.", param="n")
    gpt_image = served.startswith("gpt-image")
    as_b64 = gpt_image or body.get("response_format") == "b64_json"
    url = f"{request.scheme}://{request.host}/_mock/images/mock.png"
    item: JsonDict = {"b64_json": PNG_B64} if as_b64 else {"url": url}
    if served.startswith("dall-e-3"):
        item["revised_prompt"] = prompt
    payload: JsonDict = {"created": int(time.time()), "data": [dict(item) for _ in range(n)]}
    tokens = 0
    if gpt_image:
        payload.update(_image_usage(body, prompt, n, uploads))
        tokens = payload["usage"]["total_tokens"]
    bill(request, "images", served, payload.get("usage", {}), _image_units(body, n))
    return json_response(request, payload, tokens)


def _image_units(body: JsonDict, n: int) -> JsonDict:
    """What DALL·E bills per image: the count, and the size and quality asked for."""
    size, quality = body.get("size"), body.get("quality")
    return {
        "images": n,
        "image_size": size if isinstance(size, str) and size != "auto" else None,
        "image_quality": quality if isinstance(quality, str) and quality != "auto" else None,
    }


def _image_usage(body: JsonDict, prompt: str, n: int, uploads: int) -> JsonDict:
    quality = str(body.get("quality"))
    quality = quality if quality in _IMAGE_TOKENS else "medium"
    size = str(body.get("size") or "1024x1024")
    per_image = _IMAGE_TOKENS[quality][0 if size in ("1024x1024", "auto") else 1]
    text = count_text_tokens(prompt, "gpt-4o")
    images_in = uploads * IMAGE_INPUT_TOKENS
    usage = {
        "input_tokens": text + images_in,
        "output_tokens": per_image * n,
        "total_tokens": text + images_in + per_image * n,
        "input_tokens_details": {"text_tokens": text, "image_tokens": images_in},
    }
    return {
        "usage": usage,
        "quality": quality,
        "size": size if size != "auto" else "1024x1024",
        "background": "opaque",
        "output_format": "png",
    }


async def image_file(request: web.Request) -> web.StreamResponse:
    """The file behind generated image URLs, so clients that download them get a PNG."""
    return web.Response(body=PNG, content_type="image/png")
