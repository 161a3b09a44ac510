"""Text-to-speech: silent audio whose length follows the input (15 characters a second).

Like OpenAI, the audio goes out chunked (no Content-Length; header ``x-mock-speech-length:
1`` sends one) and carries no usage; ``stream_format: "sse"`` sends ``speech.audio.delta``
events and a ``speech.audio.done`` whose usage counts the text in and the audio tokens out
(gpt-4o-mini-tts: 1,250 audio tokens a minute, OpenAI's published estimate).
"""

from __future__ import annotations

import base64
import math

import orjson
from aiohttp import web

from collector.mock_upstream._generate import resolve_model
from collector.mock_upstream._http import ApiError, bill, ctx_of, send_events
from collector.mock_upstream._media import wav_bytes
from collector.tokens import count_text_tokens

_SPEECH_CHARS_PER_S = 15
_AUDIO_TOKENS_PER_MINUTE = 1250
_MP3_BYTES_PER_S = 16_000
_PCM_BYTES_PER_S = 48_000
_CHUNK = 8192
_SPEECH_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}


async def speech(request: web.Request) -> web.StreamResponse:
    """Audio bytes (chunked, or with a length on request), or SSE events with usage."""
    ctx = ctx_of(request)
    body = ctx.body
    _, served = resolve_model(body)
    text = body.get("input")
    if not isinstance(text, str) or not text or len(text) > 4096:
        raise ApiError(400, "Invalid 'input': string must have 1..4096 characters.", param="input")
    fmt = body.get("response_format", "mp3")
    if fmt not in _SPEECH_TYPES:
        raise ApiError(400, f"Invalid 'response_format': {fmt!r}.", param="response_format")
    seconds = max(0.5, len(text) / _SPEECH_CHARS_PER_S)
    audio = _audio(fmt, seconds)
    _bill(request, text, served, seconds)
    if body.get("stream_format") == "sse":
        return await _sse(request, text, served, audio, seconds)
    headers = ctx.headers(0, _SPEECH_TYPES[fmt])
    if request.headers.get("x-mock-speech-length") == "1":
        return web.Response(body=audio, headers=headers)
    response = web.StreamResponse(headers=headers)
    response.enable_chunked_encoding()
    await response.prepare(request)
    for at in range(0, len(audio), _CHUNK):
        await response.write(audio[at : at + _CHUNK])
    await response.write_eof()
    return response


def _audio(fmt: str, seconds: float) -> bytes:
    if fmt == "wav":
        return wav_bytes(seconds)
    if fmt == "pcm":
        return bytes(int(seconds * _PCM_BYTES_PER_S) & ~1)
    return b"\xff\xfb\x90\x64" + bytes(int(seconds * _MP3_BYTES_PER_S))


async def _sse(
    request: web.Request, text: str, served: str, audio: bytes, seconds: float
) -> web.StreamResponse:
    """``speech.audio.delta`` events, then ``speech.audio.done`` with the usage."""
    input_tokens, output_tokens = _tokens(request, text, served, seconds)
    events = [
        (_event({"type": "speech.audio.delta", "audio": base64.b64encode(part).decode()}), True)
        for part in (audio[at : at + _CHUNK] for at in range(0, len(audio), _CHUNK))
    ]
    usage = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }
    events.append((_event({"type": "speech.audio.done", "usage": usage}), False))
    return await send_events(request, events, input_tokens + output_tokens, done=False)


def _tokens(request: web.Request, text: str, served: str, seconds: float) -> tuple[int, int]:
    """Tokens in (the text and the instructions) and audio tokens out."""
    instructions = ctx_of(request).body.get("instructions")
    said = text + (instructions if isinstance(instructions, str) else "")
    return count_text_tokens(said, served), math.ceil(seconds * _AUDIO_TOKENS_PER_MINUTE / 60)


def _bill(request: web.Request, text: str, served: str, seconds: float) -> None:
    """tts-1 and tts-1-hd bill the characters said; the gpt-4o TTS models bill tokens."""
    if served.startswith("tts-"):
        bill(request, "speech", served, {}, {"characters": len(text)})
        return
    input_tokens, output_tokens = _tokens(request, text, served, seconds)
    bill(request, "speech", served, {"input_tokens": input_tokens, "output_tokens": output_tokens})


def _event(payload: dict[str, object]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"
