"""Incremental SSE reading: split upstream bytes into events, observe them, pass them on.

The relay never waits for more than one event: each complete event is observed (model,
streamed text, usage, errors) and forwarded in the same write as the other events of its
read; only an incomplete tail is held until its end arrives. The one edit made to the
stream is for chat/legacy completions when the client did not ask for usage: the gateway
asked upstream for it, so the usage-only chunk is dropped and ``"usage":null`` removed,
leaving exactly what OpenAI would have sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from collector.gateway._intake import Call, Kind
from collector.gateway._usage import usage_from_wire
from collector.usage import Usage

_DONE = b"[DONE]"
_FINAL_RESPONSE_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
_TEXT_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "transcript.text.delta",
    }
)


@dataclass(slots=True)
class StreamObserver:
    """What a stream told us so far; ``feed`` returns the bytes to relay to the client."""

    call: Call
    strip_usage: bool
    model: str | None = None
    usage: Usage | None = None
    error: str | None = None
    done: bool = False
    events: int = 0
    _tail: bytes = b""
    # In stream order: chunks whose choices (text, tool calls) and tier are read only when
    # asked — raw ``data`` (not parsed yet), a parsed chunk, or a typed event's text delta.
    _pending: list[bytes | dict[str, Any] | str] = field(default_factory=list)
    _read: int = 0  # how many of ``_pending`` went into ``_text``/``_tool_calls``
    _text: list[str] = field(default_factory=list)
    _tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def text(self) -> list[str]:
        """The streamed text so far (read from the chunks only now: most streams report usage)."""
        self._read_choices()
        return self._text

    @property
    def tool_calls(self) -> dict[int, dict[str, Any]]:
        self._read_choices()
        return self._tool_calls

    @property
    def service_tier(self) -> str | None:
        """The last tier the stream named (parsing back from the end until one does)."""
        for item in reversed(self._pending):
            if isinstance(item, bytes):
                if _TIER_KEY not in item:
                    continue
                item = _object(item) or {}
            if isinstance(item, dict) and isinstance(item.get("service_tier"), str):
                return str(item["service_tier"])
        return None

    def feed(self, chunk: bytes) -> bytes:
        """Observe every complete event in ``chunk`` (plus the held tail); return what to relay."""
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        buf = self._tail + chunk if self._tail else chunk
        end = buf.rfind(b"\n\n")
        if end < 0:
            self._tail = buf
            return b""
        complete, self._tail = buf[: end + 2], buf[end + 2 :]
        if not self.strip_usage:
            for event in complete.split(b"\n\n")[:-1]:
                self._observe(event)
            return complete
        events = complete.split(b"\n\n")[:-1]
        kept = [e for e in events if self._observe(e)]
        if len(kept) < len(events):
            complete = b"".join(e + b"\n\n" for e in kept)
        return _without_null_usage(complete)

    def close(self) -> bytes:
        """The stream ended: observe (and return) a final event that lacked its blank line."""
        tail, self._tail = self._tail, b""
        if tail.strip() and self._observe(tail.rstrip(b"\n")):
            return _without_null_usage(tail) if self.strip_usage else tail
        return b""

    def _observe(self, event: bytes) -> bool:
        """Record what ``event`` says; False when it must not reach the client."""
        data = _data(event)
        if data is None:
            return True
        if data == _DONE:
            self.done = True
            return True
        self.events += 1
        if self._routine(data):
            self._pending.append(data)  # only text and tier: read if and when needed
            return True
        obj = _object(data)
        if obj is None:
            return True
        if self.call.kind is Kind.RESPONSES or ("type" in obj and "choices" not in obj):
            self._typed_event(obj)
            return True
        return self._chunk(obj)

    def _routine(self, data: bytes) -> bool:
        """A chat chunk that can only carry text, tool calls and the tier (checked on bytes).

        Outside JSON strings a quote is never escaped, so ``"key"`` in the bytes is the
        only way a key can appear; anything unusual is parsed at once, as before.
        """
        if self.model is None or self.call.kind is Kind.RESPONSES:
            return False
        if b'"type"' in data or b'"error"' in data:
            return False
        usages = data.count(b'"usage"')
        return usages == 0 or (usages == 1 and b'"usage":null' in data)

    def _chunk(self, obj: dict[str, Any]) -> bool:
        """A chat/legacy completion chunk (``choices`` + optional ``usage``)."""
        if self.model is None and isinstance(obj.get("model"), str):
            self.model = obj["model"]
        self._pending.append(obj)
        if isinstance(obj.get("error"), dict):
            self.error = str(obj["error"].get("message") or "stream error")
        choices = obj.get("choices")
        usage = obj.get("usage")
        if usage is not None:
            self.usage = usage_from_wire(self.call.kind, usage)
            return not (self.strip_usage and choices == [])
        return True

    def _read_choices(self) -> None:
        """Take the text and tool-call deltas of the chunks not read yet, in stream order."""
        for item in self._pending[self._read :]:
            if isinstance(item, str):
                self._text.append(item)
                continue
            obj = _object(item) if isinstance(item, bytes) else item
            choices = obj.get("choices") if obj is not None else None
            if isinstance(choices, list):
                for choice in choices:
                    self._choice(choice)
        self._read = len(self._pending)

    def _choice(self, choice: Any) -> None:
        if not isinstance(choice, dict):
            return
        delta = choice.get("delta")
        source = delta if isinstance(delta, dict) else choice
        content = source.get("content") if isinstance(delta, dict) else choice.get("text")
        if isinstance(content, str):
            self._text.append(content)
        calls = source.get("tool_calls") if isinstance(delta, dict) else None
        if isinstance(calls, list):
            for call in calls:
                self._tool_delta(call)

    def _tool_delta(self, delta: Any) -> None:
        if not isinstance(delta, dict):
            return
        index = delta.get("index", 0)
        slot = self._tool_calls.setdefault(index if isinstance(index, int) else 0, {})
        fn = delta.get("function")
        if isinstance(fn, dict):
            target = slot.setdefault("function", {"name": "", "arguments": ""})
            for key in ("name", "arguments"):
                if isinstance(fn.get(key), str):
                    target[key] += fn[key]

    def _typed_event(self, obj: dict[str, Any]) -> None:
        """A Responses (or transcription/speech) event: ``{"type": ..., ...}``."""
        kind = obj.get("type")
        if kind in _TEXT_DELTAS and isinstance(obj.get("delta"), str):
            self._pending.append(obj["delta"])
            return
        response = obj.get("response")
        if isinstance(response, dict):
            if isinstance(response.get("model"), str):
                self.model = response["model"]
            if isinstance(response.get("service_tier"), str):
                self._pending.append({"service_tier": response["service_tier"]})
            if kind in _FINAL_RESPONSE_EVENTS:
                self.usage = usage_from_wire(self.call.kind, response.get("usage"))
                self.done = True
                if kind == "response.failed":
                    self.error = _message(response.get("error")) or "response failed"
        elif kind == "error":
            self.error = _message(obj) or "stream error"
        elif "usage" in obj:  # transcript.text.done, speech.audio.done
            self.usage = usage_from_wire(self.call.kind, obj.get("usage"))
            self.done = True


_TIER_KEY = b'"service_tier"'


def _object(data: bytes) -> dict[str, Any] | None:
    """The event's JSON object (None for anything else, as the stream passes on untouched)."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _without_null_usage(out: bytes) -> bytes:
    """Drop the ``"usage":null`` only include_usage adds; an unescaped quote is always a key."""
    if b'"usage":null' not in out:
        return out
    return out.replace(b',"usage":null', b"").replace(b'"usage":null,', b"")


def _message(obj: Any) -> str | None:
    if isinstance(obj, dict) and isinstance(obj.get("message"), str):
        return str(obj["message"])
    return None


def _data(event: bytes) -> bytes | None:
    """The joined ``data:`` lines of one event (None for comments and keep-alives)."""
    if event.startswith(b"data: ") and b"\n" not in event:
        return event[6:]
    lines = [line for line in event.split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None
    return b"\n".join(line[5:].removeprefix(b" ") for line in lines)
