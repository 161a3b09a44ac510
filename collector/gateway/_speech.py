"""Speech bought per token, billed from an audio body that carries no usage: an estimate.

``/v1/audio/speech`` returns raw audio. tts-1 is billed per input character (exact, from
the request), but gpt-4o-mini-tts is billed per token: text in, audio out, and the audio
body says neither. So the input tokens are counted offline (tiktoken, the model's own
encoding) and the audio output tokens are estimated from the audio's length: its size at
the format's bit rate, times OpenAI's published rate of audio tokens per minute. The result
is booked ``estimated`` with that basis as its note (``stream_format: "sse"`` reports real
usage instead, and is ``computed``).
"""

from __future__ import annotations

import math
from decimal import Decimal

from collector.gateway._intake import Call, Kind
from collector.tokens import count_text_tokens, encoding_name_for_model
from collector.usage import Usage

# gpt-4o-mini-tts: OpenAI's pricing page estimates $0.015 a minute at $12 per 1M audio
# output tokens, i.e. 1,250 audio tokens a minute of speech.
AUDIO_TOKENS_PER_MINUTE = 1250
# Bytes per second of audio by response format (OpenAI's speech is 24 kHz mono): PCM and
# WAV are 16-bit samples; the compressed formats at their typical bit rates.
BYTES_PER_SECOND = {
    "audio/mpeg": 16_000,
    "audio/mp3": 16_000,
    "audio/aac": 16_000,
    "audio/opus": 4_000,
    "audio/ogg": 4_000,
    "audio/flac": 24_000,
    "audio/wav": 48_000,
    "audio/x-wav": 48_000,
    "audio/pcm": 48_000,
}
_DEFAULT_BYTES_PER_SECOND = 16_000  # mp3, the API's default format


def speech_characters(call: Call) -> Usage | None:
    """What tts-1 bills exactly: the characters it is asked to say."""
    text = _text(call)
    return None if text is None else Usage(characters=len(text))


def speech_estimate(call: Call, size: int, content_type: str) -> tuple[Usage, str] | None:
    """Token usage estimated from the request text and ``size`` bytes of audio, and its basis."""
    text, model = _text(call), call.model
    if call.kind is not Kind.SPEECH or text is None or model is None:
        return None
    body = call.body or {}
    instructions = body.get("instructions")
    said = text + (instructions if isinstance(instructions, str) else "")
    prompt = count_text_tokens(said, model)
    kind = content_type.split(";")[0].strip().lower()
    rate = BYTES_PER_SECOND.get(kind, _DEFAULT_BYTES_PER_SECOND)
    seconds = Decimal(max(size, 0)) / rate
    audio = math.ceil(seconds * AUDIO_TOKENS_PER_MINUTE / 60)
    usage = Usage(
        prompt_tokens=prompt,
        completion_tokens=audio,
        audio_completion_tokens=audio,
        characters=len(text),
    )
    basis = (
        f"estimated: {prompt} input tokens counted offline ({encoding_name_for_model(model)});"
        f" {audio} audio output tokens from {size} bytes of {kind or 'audio'} at {rate} B/s"
        f" ({seconds:.2f} s x {AUDIO_TOKENS_PER_MINUTE} tokens/min)"
    )
    return usage, basis


def _text(call: Call) -> str | None:
    if call.kind is not Kind.SPEECH or call.body is None:
        return None
    text = call.body.get("input")
    return text if isinstance(text, str) else None
