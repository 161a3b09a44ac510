"""Wire usage objects → :class:`collector.usage.Usage`, one reader per API family.

Chat/legacy completions and embeddings report ``prompt_tokens``/``completion_tokens`` with
``*_tokens_details``; the Responses API reports ``input_tokens``/``output_tokens``; gpt-image,
gpt-4o transcription and streamed speech (``speech.audio.done``, whose output is audio) report
input/output tokens with per-modality details; whisper
reports ``{"type": "duration", "seconds": S}``. Fields keep OpenAI's inclusion rules.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from collector.gateway._intake import Call, Kind, form_field
from collector.gateway._speech import speech_characters
from collector.gateway._tools import with_tool_calls
from collector.usage import Usage


def _int(obj: Any, key: str) -> int:
    """A positive count of a JSON object, else 0 (a bool, float or text is no count). JSON
    decodes to exact dicts and ints, so exact type checks suffice (and cost less)."""
    value = obj.get(key) if type(obj) is dict else None
    return value if type(value) is int and value > 0 else 0


def usage_from_wire(kind: Kind, usage: Any) -> Usage | None:
    """The usage object of a response (or final stream event) as a ``Usage``; None if absent."""
    if not isinstance(usage, dict):
        return None
    if usage.get("type") == "duration":
        return _duration(usage)
    if "input_tokens" in usage or "output_tokens" in usage:
        return _io_tokens(kind, usage)
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    return _tokens(
        _int(usage, "prompt_tokens"),
        _int(usage, "completion_tokens"),
        prompt_details,
        completion_details,
        audio_prompt_tokens=_int(prompt_details, "audio_tokens"),
        audio_completion_tokens=_int(completion_details, "audio_tokens"),
    )


def _io_tokens(kind: Kind, usage: dict[str, Any]) -> Usage:
    """Responses API, gpt-image, gpt-4o transcription and Realtime-shaped usage:
    ``input_tokens``/``output_tokens`` with details under either spelling (Responses'
    ``input_tokens_details``, Realtime's ``input_token_details``); audio tokens in them,
    cached ones included, are audio at its own rates wherever the usage comes from."""
    out = _int(usage, "output_tokens")
    in_details = usage.get("input_tokens_details") or usage.get("input_token_details")
    out_details = usage.get("output_tokens_details") or usage.get("output_token_details")
    found = _tokens(
        _int(usage, "input_tokens"),
        out,
        in_details,
        out_details,
        audio_prompt_tokens=_int(in_details, "audio_tokens"),
        image_prompt_tokens=_int(in_details, "image_tokens"),
        image_completion_tokens=out if kind is Kind.IMAGES else 0,
        audio_completion_tokens=out if kind is Kind.SPEECH else _int(out_details, "audio_tokens"),
    )
    cached = in_details.get("cached_tokens_details") if isinstance(in_details, dict) else None
    cached_audio = min(_int(cached, "audio_tokens"), found.cached_tokens, found.audio_prompt_tokens)
    return replace(found, cached_audio_tokens=cached_audio) if cached_audio else found


def _tokens(
    prompt: int,
    completion: int,
    prompt_details: Any,
    completion_details: Any,
    *,
    audio_prompt_tokens: int = 0,
    audio_completion_tokens: int = 0,
    image_prompt_tokens: int = 0,
    image_completion_tokens: int = 0,
) -> Usage:
    """Totals plus their details, with OpenAI's inclusion rules kept: the cached part (read
    from the prompt cache, plus written to it) never exceeds the prompt, nor the reasoning or
    audio part the completion (a bad detail cannot inflate)."""
    cached = min(_int(prompt_details, "cached_tokens"), prompt)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        cache_write_tokens=min(_int(prompt_details, "cache_write_tokens"), prompt - cached),
        reasoning_tokens=min(_int(completion_details, "reasoning_tokens"), completion),
        audio_prompt_tokens=audio_prompt_tokens,
        audio_completion_tokens=min(audio_completion_tokens, completion),
        image_prompt_tokens=image_prompt_tokens,
        image_completion_tokens=image_completion_tokens,
    )


def _duration(usage: dict[str, Any]) -> Usage | None:
    seconds = usage.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float | str):
        return None
    try:
        value = Decimal(str(seconds))
    except InvalidOperation:
        return None
    return Usage(audio_seconds=value) if value.is_finite() and value >= 0 else None


def usage_from_body(call: Call, body: Any) -> Usage | None:
    """Usage of a whole (non-streamed) JSON response, including request-side units."""
    if not isinstance(body, dict):
        return None
    found = usage_from_wire(call.kind, body.get("usage"))
    model = body.get("model")
    found = with_tool_calls(
        call, found, body.get("output"), model if isinstance(model, str) else None
    )
    if call.kind is Kind.IMAGES:
        return _images(call, body, found)
    if call.kind is Kind.CONTAINERS:
        return _container(body)
    if found is None and call.kind is Kind.TRANSCRIPTION:
        return _duration({"type": "duration", "seconds": body.get("duration")})
    return found


def _images(call: Call, body: dict[str, Any], found: Usage | None) -> Usage:
    """DALL·E bills per image by size and quality; gpt-image bills tokens (both recorded)."""
    data = body.get("data")
    if call.body is not None:
        size, quality = call.body.get("size"), call.body.get("quality")
    else:  # a multipart upload (edits, variations): read the two small form fields
        size = form_field(call.raw, call.content_type, "size")
        quality = form_field(call.raw, call.content_type, "quality")
    base = found or Usage()
    return Usage(
        prompt_tokens=base.prompt_tokens,
        completion_tokens=base.completion_tokens,
        cached_tokens=base.cached_tokens,
        image_prompt_tokens=base.image_prompt_tokens,
        image_completion_tokens=base.image_completion_tokens,
        images=len(data) if isinstance(data, list) else 0,
        image_size=size if isinstance(size, str) and size != "auto" else None,
        image_quality=quality if isinstance(quality, str) and quality != "auto" else None,
    )


def _container(body: dict[str, Any]) -> Usage | None:
    """A created container is one code interpreter session (priced by ``container_cost``)."""
    return Usage(code_interpreter_sessions=1) if isinstance(body.get("id"), str) else None


def request_side_usage(call: Call) -> Usage | None:
    """Units known from the request alone (speech bills the characters it is asked to say)."""
    return speech_characters(call)
