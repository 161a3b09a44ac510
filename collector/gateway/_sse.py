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
    output: Any = None  # the final response's output items (Responses: tool calls)
    error: str | None = None
    done: bool = False
    started: dict[str, Any] | None = None  # Responses: the first response object the stream named
    ended: dict[str, Any] | None = None  # Responses: the response object of the final event
    _tail: bytes = b""
    # In stream order: chunks whose choices (text, tool calls) and tier are read only when
    # asked — raw ``data`` (not parsed yet), a run of plain events (not split yet), a parsed
    # chunk, or a typed event's text delta.
    _pending: list[bytes | _Events | dict[str, Any] | str] = field(default_factory=list)
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
            if isinstance(item, _Events):
                tier = item.service_tier()
                if tier is not None:
                    return tier
                continue
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
        out = self._events(complete)
        return _without_null_usage(out) if self.strip_usage else out

    def _events(self, complete: bytes) -> bytes:
        """Observe complete events; the kept ones, in order (``complete`` itself if all are).

        Events are observed one by one until the model is known; then a run of plain chunks
        (all but the last two events, which may carry usage or ``[DONE]``) is taken whole.
        """
        kept: list[bytes] = []
        start, size, dropped, tried = 0, len(complete), False, False
        while start < size:
            if not tried and self.model is not None and self.call.kind is not Kind.RESPONSES:
                tried = True
                cut = _before_last_two(complete, start, size)
                if cut > start and _plain(run := complete[start:cut]):
                    self._pending.append(_Events(run))
                    kept.append(run)
                    start = cut
                    continue
            stop = complete.find(b"\n\n", start) + 2
            if self._observe(complete[start : stop - 2]):
                kept.append(complete[start:stop])
            else:
                dropped = True
            start = stop
        return b"".join(kept) if dropped else complete

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
            for obj in item.objects() if isinstance(item, _Events) else (item,):
                if isinstance(obj, bytes):
                    obj = _object(obj)
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
            if self.started is None:
                self.started = response
            if isinstance(response.get("model"), str):
                self.model = response["model"]
            if isinstance(response.get("service_tier"), str):
                self._pending.append({"service_tier": response["service_tier"]})
            if kind in _FINAL_RESPONSE_EVENTS:
                self.usage = usage_from_wire(self.call.kind, response.get("usage"))
                self.output = response.get("output")
                self.done = True
                self.ended = response
                if kind == "response.failed":
                    self.error = _message(response.get("error")) or "response failed"
        elif kind == "error":
            self.error = _message(obj) or "stream error"
        elif "usage" in obj:  # transcript.text.done, speech.audio.done
            self.usage = usage_from_wire(self.call.kind, obj.get("usage"))
            self.done = True


_TIER_KEY = b'"service_tier"'


@dataclass(frozen=True, slots=True)
class _Events:
    """A run of plain chat chunks (see ``_plain``), relayed whole and split only if read."""

    raw: bytes

    def data(self) -> list[bytes]:
        found = (_data(event) for event in self.raw.split(b"\n\n"))
        return [data for data in found if data is not None and data != _DONE]

    def objects(self) -> list[dict[str, Any] | None]:
        return [_object(data) for data in self.data()]

    def service_tier(self) -> str | None:
        """The last tier named in the run (None when no chunk names one)."""
        if _TIER_KEY not in self.raw:
            return None
        for data in reversed(self.data()):
            if _TIER_KEY in data:
                obj = _object(data) or {}
                if isinstance(obj.get("service_tier"), str):
                    return str(obj["service_tier"])
        return None


def _before_last_two(complete: bytes, start: int, size: int) -> int:
    """Where the second to last event of ``complete[start:size]`` begins (``start`` if none)."""
    last = complete.rfind(b"\n\n", start, size - 2)
    if last < 0:
        return start
    second = complete.rfind(b"\n\n", start, last)
    return second + 2 if second >= 0 else start


def _plain(run: bytes) -> bool:
    """Complete events that are all routine chat chunks (see ``_routine``), checked at once.

    No ``[DONE]``, no error, no typed event or tool call (``"type"``), and every usage null:
    nothing to drop or record, only text and tier to read if and when needed.
    """
    if b'"error"' in run or b'"type"' in run or _DONE in run:
        return False
    usages = run.count(b'"usage"')
    return usages == 0 or usages == run.count(b'"usage":null')


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
    out = out.replace(b',"usage":null', b"")
    return out.replace(b'"usage":null,', b"") if b'"usage":null' in out else out


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
