"""The API's own usage objects, read strictly into a :class:`Usage` (for checking a bill).

One reader per endpoint, as OpenAI returns the object: Chat/Completions/Embeddings
(``prompt_tokens``, ``*_tokens_details``), Responses (``input_tokens``, ``*_tokens_details``;
both with ``cached_tokens`` read from and ``cache_write_tokens`` written to the prompt cache),
Images (``input_tokens_details.text_tokens/image_tokens``; output tokens are image tokens),
Speech's SSE ``speech.audio.done`` usage (output tokens are audio), Transcription
(``{"type": "tokens"|"duration", …}``) and Realtime's ``response.done`` usage (text, audio
and cached details). Unlike the gateway's lenient reader, a bad value is an error here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from collector.errors import PricingError
from collector.usage import Usage

# The note of a Realtime cost whose usage did not split text from audio (booked estimated).
TEXT_ONLY_NOTE = "no text/audio split in the Realtime usage: every token priced as text"

ENDPOINTS = (
    "chat", "responses", "embeddings", "completions", "images", "speech", "transcription",
    "realtime",
)  # fmt: skip


def usage_from_api(endpoint: str, usage: Any) -> Usage:
    """``usage`` as ``endpoint`` returns it; PricingError names the first problem."""
    if not isinstance(usage, Mapping):
        raise PricingError("the usage must be a JSON object")
    reader = _READERS.get(endpoint)
    if reader is None:
        raise PricingError(f"unknown endpoint {endpoint!r} (known: {', '.join(ENDPOINTS)})")
    result = reader(usage)
    try:
        result.validate()
    except ValueError as exc:
        raise PricingError(f"invalid usage: {exc}") from None
    return result


def guess_endpoint(usage: Any) -> str:
    """The endpoint a usage object's shape belongs to, when the caller did not say."""
    if isinstance(usage, Mapping):
        if usage.get("type") in ("duration", "tokens"):
            return "transcription"
        if "input_token_details" in usage or "output_token_details" in usage:
            return "realtime"
        if "input_tokens" in usage:
            return "responses"
    return "chat"


def _n(obj: Any, key: str, where: str) -> int:
    """A count: absent is 0; anything but a non-negative integer is an error."""
    if not isinstance(obj, Mapping) or obj.get(key) is None:
        return 0
    value: object = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PricingError(f"{where}{key} must be a non-negative integer, got {value!r}")
    return value


def _details(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PricingError(f"{key} must be an object")
    return value


def _chat(u: Mapping[str, Any]) -> Usage:
    prompt = _details(u, "prompt_tokens_details")
    completion = _details(u, "completion_tokens_details")
    return Usage(
        prompt_tokens=_n(u, "prompt_tokens", ""),
        completion_tokens=_n(u, "completion_tokens", ""),
        cached_tokens=_n(prompt, "cached_tokens", "prompt_tokens_details."),
        cache_write_tokens=_n(prompt, "cache_write_tokens", "prompt_tokens_details."),
        audio_prompt_tokens=_n(prompt, "audio_tokens", "prompt_tokens_details."),
        reasoning_tokens=_n(completion, "reasoning_tokens", "completion_tokens_details."),
        audio_completion_tokens=_n(completion, "audio_tokens", "completion_tokens_details."),
    )


def _responses(u: Mapping[str, Any]) -> Usage:
    """Responses' usage; a model that hears or speaks (gpt-realtime, gpt-audio) reports its
    audio and image tokens in the same details, priced at their own rates."""
    inp, out = _either(u, "input_tokens_details"), _either(u, "output_tokens_details")
    return _modal(u, inp, out)


def _either(u: Mapping[str, Any], key: str) -> tuple[str, Mapping[str, Any]]:
    """A details object under Responses' plural key or Realtime's singular one
    (``input_tokens_details`` / ``input_token_details``), with the key found."""
    plural = key.replace("_token_details", "_tokens_details")
    for name in (key, plural, plural.replace("_tokens_details", "_token_details")):
        if u.get(name) is not None:
            return name + ".", _details(u, name)
    return key + ".", {}


def _modal(
    u: Mapping[str, Any], inp: tuple[str, Mapping[str, Any]], out: tuple[str, Mapping[str, Any]]
) -> Usage:
    """Totals with their text, cached, audio and image details, whichever spelling they use."""
    (in_at, in_d), (out_at, out_d) = inp, out
    cached = _details(in_d, "cached_tokens_details")
    return Usage(
        prompt_tokens=_n(u, "input_tokens", ""),
        completion_tokens=_n(u, "output_tokens", ""),
        cached_tokens=_n(in_d, "cached_tokens", in_at),
        cache_write_tokens=_n(in_d, "cache_write_tokens", in_at),
        audio_prompt_tokens=_n(in_d, "audio_tokens", in_at),
        image_prompt_tokens=_n(in_d, "image_tokens", in_at),
        cached_audio_tokens=_n(cached, "audio_tokens", in_at + "cached_tokens_details."),
        reasoning_tokens=_n(out_d, "reasoning_tokens", out_at),
        audio_completion_tokens=_n(out_d, "audio_tokens", out_at),
    )


def modality_note(endpoint: str, usage: Any) -> str | None:
    """Why a Realtime usage object's tokens can only be priced as text, when they can.

    Realtime tokens may be text or audio, billed at very different rates; a usage object
    with tokens but no input or output details does not say which, so its cost is an
    estimate (booked ``estimated`` with this note), never an exact text price.
    """
    if endpoint != "realtime" or not isinstance(usage, Mapping):
        return None
    has_tokens = bool(usage.get("input_tokens") or usage.get("output_tokens"))
    split = any(
        isinstance(usage.get(key), Mapping)
        for key in (
            "input_token_details", "input_tokens_details", "output_token_details",
            "output_tokens_details",
        )
    )  # fmt: skip
    return TEXT_ONLY_NOTE if has_tokens and not split else None


def _images(u: Mapping[str, Any]) -> Usage:
    inp, out = _details(u, "input_tokens_details"), _details(u, "output_tokens_details")
    output = _n(u, "output_tokens", "")
    image_out = _n(out, "image_tokens", "output_tokens_details.") if out else output
    return Usage(
        prompt_tokens=_n(u, "input_tokens", ""),
        completion_tokens=output,
        cached_tokens=_n(inp, "cached_tokens", "input_tokens_details."),
        image_prompt_tokens=_n(inp, "image_tokens", "input_tokens_details."),
        image_completion_tokens=image_out,
    )


def _speech(u: Mapping[str, Any]) -> Usage:
    output = _n(u, "output_tokens", "")
    return Usage(
        prompt_tokens=_n(u, "input_tokens", ""),
        completion_tokens=output,
        audio_completion_tokens=output,
    )


def _transcription(u: Mapping[str, Any]) -> Usage:
    if u.get("type") == "duration":
        return Usage(audio_seconds=_seconds(u.get("seconds")))
    inp = _details(u, "input_token_details") or _details(u, "input_tokens_details")
    return Usage(
        prompt_tokens=_n(u, "input_tokens", ""),
        completion_tokens=_n(u, "output_tokens", ""),
        audio_prompt_tokens=_n(inp, "audio_tokens", "input_token_details."),
    )


def _realtime(u: Mapping[str, Any]) -> Usage:
    """``response.done`` usage: ``input_token_details`` (text, audio, image, cached and its
    own audio/image split) and ``output_token_details``; Responses' plural spelling too."""
    return _modal(u, _either(u, "input_token_details"), _either(u, "output_token_details"))


def _seconds(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise PricingError(f"seconds must be a non-negative number, got {value!r}")
    try:
        seconds = Decimal(str(value))
    except InvalidOperation:
        raise PricingError(f"seconds must be a number, got {value!r}") from None
    if not seconds.is_finite() or seconds < 0:
        raise PricingError(f"seconds must be a non-negative number, got {value!r}")
    return seconds


_READERS: dict[str, Callable[[Mapping[str, Any]], Usage]] = {
    "chat": _chat,
    "completions": _chat,
    "embeddings": _chat,
    "responses": _responses,
    "images": _images,
    "speech": _speech,
    "transcription": _transcription,
    "realtime": _realtime,
}
