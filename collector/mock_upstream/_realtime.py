"""``GET /v1/realtime``: the Realtime API over a WebSocket, with usage as OpenAI bills it.

Speaks the GA event shapes of ``openai-openapi.yaml``: ``session.created`` on connect;
``session.update`` → ``session.updated``; ``conversation.item.create`` →
``conversation.item.added`` + ``conversation.item.done``; ``input_audio_buffer.append``
(base64 PCM, decoded strictly) and ``input_audio_buffer.commit``; ``response.create`` →
``response.created``, text or audio deltas (``response.output_text.delta``,
``response.output_audio.delta`` + ``response.output_audio_transcript.delta``) and
``response.done`` with ``usage``. A bad event gets an ``error`` event; the session stays open.

Usage: the input is the whole conversation so far (earlier outputs included), as OpenAI
bills it. Audio is 24 kHz 16-bit mono PCM: 1 input token per 100 ms (4,800 bytes, rounded
up per item) and 1 output token per 50 ms (2,400 bytes of audio sent per output token).

Auth: the HTTP middleware checks ``Authorization``; a key in the browser subprotocol
``openai-insecure-api-key.<key>`` must also be the required key (401 otherwise), as OpenAI
authenticates with it.

An ``input_image`` part counts ``IMAGE_TOKENS``. Text output is ``x-mock-output-tokens`` (or
the server's ``output_tokens``, else 12..51 from the seed), capped by ``max_output_tokens``;
an audio response speaks it with ``AUDIO_PER_TEXT_TOKEN`` audio tokens per text token.
``x-mock-cached-tokens: N`` reports N of the input's text tokens as cached;
``x-mock-tokens-per-s`` paces the delta events.

Turn detection (``session.audio.input.turn_detection``, or the beta ``turn_detection``, an
object whose ``create_response`` is not false) answers by itself: once the appended audio
ends in 500 ms of zero samples after some sound, the buffer is committed and a response
starts without a ``response.create``. Responses finish before the next client event is
read, so ``response.cancel`` always answers ``response_cancel_not_active``.

Faults (handshake headers, as for HTTP): ``x-mock-fault: cut@N`` drops the TCP connection
once N delta events of the session were sent (``cut``: 2), in the middle of a response,
after its ``response.created`` and before its ``response.done``. A binary frame from the
client is echoed back unchanged (the real API takes none), so a relay can be checked byte
for byte; ``GET /_mock/realtime/<session id>`` tells the close code the client sent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from collector.mock_upstream._http import STATE, ApiError, ctx_of
from collector.mock_upstream._state import MockState
from collector.tokens import count_text_tokens

IMAGE_TOKENS = 85
AUDIO_PER_TEXT_TOKEN = 5
INPUT_AUDIO_BYTES_PER_TOKEN = 4_800  # 100 ms of 24 kHz 16-bit mono
OUTPUT_AUDIO_BYTES_PER_TOKEN = 2_400  # 50 ms
_CLOSES_KEPT = 4096
SILENCE_BYTES = 24_000  # 500 ms of zero samples end a turn under turn detection
_AUDIO_CHUNK_TOKENS = 4  # audio output tokens per delta event
_DEFAULT_MODEL = "gpt-realtime"
KEY_PROTOCOL = "openai-insecure-api-key."
_SNAPSHOTS = {
    "gpt-realtime": "gpt-realtime-2025-08-28",
    "gpt-realtime-mini": "gpt-realtime-mini-2025-10-06",
    "gpt-4o-realtime-preview": "gpt-4o-realtime-preview-2024-12-17",
}


@dataclass(slots=True)
class _Tokens:
    """Tokens of one conversation item (or of a response's output), by modality."""

    text: int = 0
    audio: int = 0
    image: int = 0

    def add(self, other: _Tokens) -> None:
        self.text += other.text
        self.audio += other.audio
        self.image += other.image


@dataclass(slots=True)
class _Session:
    """One connection's state: its model, modalities, conversation and audio buffer."""

    state: MockState
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    model: str
    output_tokens: int | None
    cached: int
    cut_after: int | None  # the fault: drop the connection after this many delta events
    session_id: str
    modalities: list[str] = field(default_factory=lambda: ["audio"])
    conversation: _Tokens = field(default_factory=_Tokens)
    audio_buffer: bytearray = field(default_factory=bytearray)
    responses: int = 0
    deltas: int = 0  # delta events sent in this session (the cut fault counts them)
    vad: bool = False  # turn detection that starts a response by itself
    pace_s: float = 0.0  # pause after each delta event (x-mock-tokens-per-s)

    async def emit(self, event_type: str, **fields: Any) -> None:
        event = {"event_id": self.state.object_id("event_"), "type": event_type, **fields}
        await self.ws.send_str(orjson.dumps(event).decode())

    async def error(self, message: str, code: str, event_id: str | None = None) -> None:
        await self.emit(
            "error",
            error={"type": "invalid_request_error", "code": code, "message": message,
                   "param": None, "event_id": event_id},
        )  # fmt: skip


async def realtime(request: web.Request) -> web.StreamResponse:
    """Upgrade, greet with ``session.created``, then answer client events until close."""
    ctx = ctx_of(request)
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    accepted = ctx.state.keys
    for protocol in offered:
        key = protocol.removeprefix(KEY_PROTOCOL)
        if key != protocol and accepted is not None and key not in accepted:
            raise ApiError(401, "Incorrect API key provided in the WebSocket subprotocol.",
                           code="invalid_api_key")  # fmt: skip
    protocols = tuple(p for p in offered if p == "realtime")
    ws = web.WebSocketResponse(protocols=protocols, autoping=True, max_msg_size=0)
    await ws.prepare(request)
    requested = request.query.get("model") or _DEFAULT_MODEL
    cut = ctx.fault.kind == "cut"
    session = _Session(
        state=ctx.state,
        ws=ws,
        transport=request.transport,
        model=_SNAPSHOTS.get(requested, requested),
        output_tokens=_header_int(request, "x-mock-output-tokens", ctx.state.config.output_tokens),
        cached=_header_int(request, "x-mock-cached-tokens", 0) or 0,
        cut_after=(int(ctx.fault.value) if ctx.fault.value is not None else 2) if cut else None,
        session_id=ctx.state.object_id("sess_"),
        pace_s=1 / ctx.tokens_per_s if ctx.tokens_per_s > 0 else 0.0,
    )
    await session.emit("session.created", session=_session_object(session))
    with suppress(ConnectionResetError):  # the client left while we were still answering
        async for message in ws:
            if message.type is WSMsgType.BINARY:
                await ws.send_bytes(message.data)
            elif message.type is WSMsgType.TEXT and not await _handle(session, message.data):
                break  # the scripted cut: the connection is gone
    closes = ctx.state.realtime_closes
    closes[session.session_id] = ws.close_code
    if len(closes) > _CLOSES_KEPT:
        closes.popitem(last=False)
    return ws


async def realtime_close(request: web.Request) -> web.Response:
    """``GET /_mock/realtime/{session}``: the close code that session's client sent."""
    session = request.match_info["session"]
    closes = request.app[STATE].realtime_closes
    if session not in closes:
        raise web.HTTPNotFound()
    return web.json_response({"session": session, "close_code": closes[session]})


def _header_int(request: web.Request, name: str, default: int | None) -> int | None:
    value = request.headers.get(name)
    return int(value) if value is not None and value.isdigit() else default


def _session_object(session: _Session) -> dict[str, Any]:
    return {
        "id": session.session_id,
        "object": "realtime.session",
        "type": "realtime",
        "model": session.model,
        "output_modalities": session.modalities,
        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}},
                  "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}},
    }  # fmt: skip


async def _handle(session: _Session, data: str) -> bool:
    """One client event; False when the connection was dropped by the scripted fault."""
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        await session.error("The event is not valid JSON.", "invalid_json")
        return True
    if not isinstance(event, dict):
        await session.error("The event must be a JSON object.", "invalid_json")
        return True
    kind, event_id = event.get("type"), event.get("event_id")
    event_id = event_id if isinstance(event_id, str) else None
    try:
        if kind == "session.update":
            _update(session, event.get("session"))
            await session.emit("session.updated", session=_session_object(session))
        elif kind == "conversation.item.create":
            await _add_item(session, event.get("item"))
        elif kind == "input_audio_buffer.append":
            session.audio_buffer += _audio(event.get("audio"))
            if session.vad and _speech_ended(session.audio_buffer):
                await _commit(session)  # the server's turn detection answers by itself
                return await _respond(session, None)
        elif kind == "input_audio_buffer.commit":
            await _commit(session)
        elif kind == "response.create":
            return await _respond(session, event.get("response"))
        elif kind == "response.cancel":  # responses here finish before the next event is read
            await session.error("Cancellation failed: no active response found",
                                "response_cancel_not_active", event_id)  # fmt: skip
        else:
            raise ValueError(f"Invalid value: '{kind}'. Unknown client event type.")
    except ValueError as exc:
        await session.error(str(exc), "invalid_value", event_id)
    return True


def _speech_ended(buffer: bytearray) -> bool:
    """Speech followed by ``SILENCE_BYTES`` of digital silence: the turn is over."""
    return len(buffer) > SILENCE_BYTES and not any(buffer[-SILENCE_BYTES:])


def _update(session: _Session, config: Any) -> None:
    if not isinstance(config, dict):
        raise ValueError("session.update needs a 'session' object.")
    modalities = config.get("output_modalities", config.get("modalities"))
    if modalities is not None:
        session.modalities = _modalities(modalities)
    audio_in = (
        (config.get("audio") or {}).get("input") if isinstance(config.get("audio"), dict) else None
    )
    turn = (audio_in or {}).get("turn_detection", config.get("turn_detection", False))
    if turn is not False:  # absent: unchanged; null: off; an object: on unless it says not to
        session.vad = isinstance(turn, dict) and turn.get("create_response", True) is not False


def _modalities(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not set(value) <= {"text", "audio"}:
        raise ValueError("output_modalities must be a non-empty list of 'text' or 'audio'.")
    return [str(v) for v in value]


def _audio(value: Any) -> bytes:
    """Base64 audio, decoded strictly: a bad character is an error, never silently skipped."""
    if not isinstance(value, str):
        raise ValueError("'audio' must be a base64 string.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("'audio' is not valid base64.") from None


def _audio_tokens(size: int) -> int:
    return math.ceil(size / INPUT_AUDIO_BYTES_PER_TOKEN)


async def _add_item(session: _Session, item: Any) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("content"), list):
        raise ValueError("conversation.item.create needs an 'item' with a 'content' list.")
    tokens = _Tokens()
    for part in item["content"]:
        part_type = part.get("type") if isinstance(part, dict) else None
        if part_type in ("input_text", "text", "output_text"):
            tokens.text += count_text_tokens(str(part.get("text") or ""), session.model)
        elif part_type == "input_audio":
            tokens.audio += _audio_tokens(len(_audio(part.get("audio"))))
        elif part_type == "input_image":
            tokens.image += IMAGE_TOKENS
        else:
            raise ValueError(f"Invalid content part type: {part_type!r}.")
    session.conversation.add(tokens)
    await _item_events(session, item.get("role") or "user")


async def _item_events(session: _Session, role: Any) -> None:
    item = {"id": session.state.object_id("item_"), "object": "realtime.item",
            "type": "message", "role": role, "status": "completed", "content": []}  # fmt: skip
    await session.emit("conversation.item.added", previous_item_id=None, item=item)
    await session.emit("conversation.item.done", previous_item_id=None, item=item)


async def _commit(session: _Session) -> None:
    if not session.audio_buffer:
        raise ValueError("Error committing input audio buffer: the buffer is empty.")
    session.conversation.audio += _audio_tokens(len(session.audio_buffer))
    session.audio_buffer.clear()
    item_id = session.state.object_id("item_")
    await session.emit("input_audio_buffer.committed", previous_item_id=None, item_id=item_id)
    await _item_events(session, "user")


async def _respond(session: _Session, options: Any) -> bool:
    """Stream one response; False when the scripted fault cut the connection mid-way."""
    options = options if isinstance(options, dict) else {}
    modalities = session.modalities
    if options.get("output_modalities") is not None:
        modalities = _modalities(options["output_modalities"])
    session.responses += 1
    key = session.responses * 7919 + session.conversation.text
    text = _output_text(session, key, options.get("max_output_tokens"))
    audio = "audio" in modalities
    response_id = session.state.object_id("resp_")
    await session.emit("response.created", response=_response(response_id, "in_progress"))
    deltas = _deltas(response_id, text, audio)
    for event_type, fields in deltas:
        if session.cut_after is not None and session.deltas >= session.cut_after:
            if session.transport is not None:
                session.transport.abort()  # no close frame: the connection is simply gone
            return False
        session.deltas += 1
        await session.emit(event_type, **fields)
        if session.pace_s:
            await asyncio.sleep(session.pace_s)
    output = _Tokens(text=len(text), audio=len(text) * AUDIO_PER_TEXT_TOKEN if audio else 0)
    usage = _usage(session, output)
    session.conversation.add(output)
    done = _response(response_id, "completed") | {"usage": usage}
    await session.emit("response.done", response=done)
    return True


def _output_text(session: _Session, key: int, cap: Any) -> list[str]:
    count = session.output_tokens
    if count is None:
        count = 12 + key % 40
    if isinstance(cap, int) and not isinstance(cap, bool):
        count = min(count, cap)
    return session.state.bank.take(key, count)


def _deltas(response_id: str, text: list[str], audio: bool) -> list[tuple[str, dict[str, Any]]]:
    ids = {"response_id": response_id, "item_id": f"item_{response_id[5:]}",
           "output_index": 0, "content_index": 0}  # fmt: skip
    if not audio:
        return [("response.output_text.delta", ids | {"delta": piece}) for piece in text]
    out: list[tuple[str, dict[str, Any]]] = []
    chunk = base64.b64encode(bytes(OUTPUT_AUDIO_BYTES_PER_TOKEN * _AUDIO_CHUNK_TOKENS)).decode()
    remaining = len(text) * AUDIO_PER_TEXT_TOKEN
    for piece in text:
        out.append(("response.output_audio_transcript.delta", ids | {"delta": piece}))
    while remaining > 0:
        tokens = min(remaining, _AUDIO_CHUNK_TOKENS)
        delta = (
            chunk
            if tokens == _AUDIO_CHUNK_TOKENS
            else base64.b64encode(bytes(OUTPUT_AUDIO_BYTES_PER_TOKEN * tokens)).decode()
        )
        out.append(("response.output_audio.delta", ids | {"delta": delta}))
        remaining -= tokens
    return out


def _usage(session: _Session, output: _Tokens) -> dict[str, Any]:
    given = session.conversation
    cached = min(session.cached, given.text)
    inputs = given.text + given.audio + given.image
    outputs = output.text + output.audio
    return {
        "total_tokens": inputs + outputs,
        "input_tokens": inputs,
        "output_tokens": outputs,
        "input_token_details": {
            "cached_tokens": cached,
            "text_tokens": given.text,
            "audio_tokens": given.audio,
            "image_tokens": given.image,
            "cached_tokens_details": {"text_tokens": cached, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": output.text, "audio_tokens": output.audio},
    }


def _response(response_id: str, status: str) -> dict[str, Any]:
    return {"id": response_id, "object": "realtime.response", "status": status,
            "status_details": None, "output": [], "usage": None}  # fmt: skip
