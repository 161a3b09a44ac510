"""``/v1/realtime`` as a pure ASGI WebSocket handler: authenticate, connect upstream, relay.

The virtual key comes in the ``Authorization`` header or, from browsers (which cannot set
headers on a WebSocket), in the subprotocol ``openai-insecure-api-key.<key>`` next to
``realtime`` — the form OpenAI's own JavaScript SDK sends. That subprotocol is never
forwarded and never echoed back: upstream gets the server-held key in ``Authorization`` and
the client's other subprotocols, and the client is accepted with the one upstream chose.
A missing or unknown key, or an upstream that cannot be reached, is refused before the
upgrade with an OpenAI-shaped HTTP error (401, 502), or close code 1008/1011 where the
server cannot send an HTTP response.

Once open, text and binary frames pass both ways untouched and in order; close codes pass
through (1005/1006, which cannot be sent, become 1011 when abnormal); pings are answered at
each hop. Only a few server events are read (``session.created``, ``response.created``,
``response.done``) and one client event (``response.create``, admitted against hard
budgets first: a refused one is not relayed; the client gets a Realtime ``error`` event
with code ``insufficient_quota`` or ``rate_limit_exceeded`` and the session stays open). A
response the server starts by itself (turn detection) is admitted on its
``response.created``; a refused one is cancelled upstream (``response.cancel``) and the
client gets the same ``error`` event right after the ``response.created``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import orjson

from collector.errors import GatewayError, InvalidRequest, UpstreamUnavailable
from collector.gateway._exchange import Exchange
from collector.gateway._keyauth import authenticate
from collector.gateway._realtime_meter import REALTIME_PATH, SessionMeter
from collector.gateway._runtime import Runtime
from collector.gateway._upstream import Upstream, upstream_headers
from collector.keys import parse_attribution
from collector.recorder import new_request_id
from collector.usage import Outcome

log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
KEY_PROTOCOL = "openai-insecure-api-key."
_HANDSHAKE = frozenset(
    {b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
     b"sec-websocket-protocol", b"sec-websocket-accept", b"origin"}
)  # fmt: skip
_UNSENDABLE = frozenset({1005, 1006, 1015})
_CONNECT_TIMEOUT = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0)
_DRAIN_S = 5.0  # after one side closed, how long the other may take to finish


def client_credentials(scope: Scope) -> tuple[str | None, list[str], dict[str, str]]:
    """The ``Authorization`` value (from the header or the key subprotocol), the subprotocols
    to offer upstream (the key one removed) and the ``x-spendscope-*`` headers."""
    authorization: str | None = None
    offered: list[str] = []
    ours: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"sec-websocket-protocol":
            offered += [p.strip() for p in value.decode("latin-1").split(",") if p.strip()]
        elif name.startswith(b"x-spendscope-"):
            ours[name.decode("latin-1")] = value.decode("utf-8", "replace")
    keyed = [p for p in offered if p.startswith(KEY_PROTOCOL)]
    if authorization is None and keyed:
        authorization = "Bearer " + keyed[0][len(KEY_PROTOCOL) :]
    return authorization, [p for p in offered if not p.startswith(KEY_PROTOCOL)], ours


class RealtimeRelay:
    """Serves WebSocket connections to ``/v1/realtime``; any other path is refused (400)."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        if scope["path"] != REALTIME_PATH:
            await _refuse(scope, send, InvalidRequest("Only /v1/realtime speaks WebSocket."))
            return
        meter = await self._open_meter(scope, send)
        if meter is not None:
            await self._session(scope, receive, send, meter)

    async def _open_meter(self, scope: Scope, send: Send) -> SessionMeter | None:
        """Authenticate and attribute; a refusal is answered before the upgrade."""
        authorization, _, ours = client_credentials(scope)
        try:
            principal = await authenticate(self.rt, authorization)
            attribution = parse_attribution(ours, None, principal)
        except GatewayError as exc:
            self._record_refusal(exc)
            await _refuse(scope, send, exc)
            return None
        model = _model(scope["query_string"])
        return SessionMeter(self.rt, principal, attribution, model, scope["query_string"])

    def _record_refusal(self, exc: GatewayError) -> None:
        """A refused handshake is a request of its own, as on the HTTP endpoints."""
        if self.rt.settings.record_requests:
            ex = Exchange(new_request_id(), datetime.now(UTC), time.perf_counter(), REALTIME_PATH)
            ex.refuse(exc)
            self.rt.record(ex)

    async def _session(
        self, scope: Scope, receive: Receive, send: Send, meter: SessionMeter
    ) -> None:
        upstream = self.rt.upstreams.for_model(meter.model)
        meter.upstream = upstream.name
        ws = await self._connect(scope, send, meter, upstream)
        if ws is None:
            return
        try:
            await send({"type": "websocket.accept", "subprotocol": ws.protocol})
            await _Pumps(meter, ws, receive, send).run()
        finally:
            await ws.close()

    async def _connect(
        self, scope: Scope, send: Send, meter: SessionMeter, upstream: Upstream
    ) -> aiohttp.ClientWebSocketResponse | None:
        _, protocols, _ = client_credentials(scope)
        headers = [(k, v) for k, v in scope["headers"] if k not in _HANDSHAKE]
        settings = self.rt.settings
        try:  # the handshake within connect + read timeouts, not aiohttp's 5-minute default
            async with asyncio.timeout(settings.connect_timeout_s + settings.read_timeout_s):
                return await self.rt.forwarder.session.ws_connect(
                    upstream.url(scope["path"], scope["query_string"]),
                    headers=upstream_headers(headers, upstream),
                    protocols=protocols,
                    autoping=True,
                    max_msg_size=0,
                    timeout=_CONNECT_TIMEOUT,
                    compress=0,
                )
        except aiohttp.WSServerHandshakeError as exc:
            message = f"upstream refused the WebSocket: HTTP {exc.status}"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            message = f"upstream unreachable: {type(exc).__name__}: {exc}"
        log.warning("gateway: realtime session not opened: %s", message)
        error = UpstreamUnavailable("The upstream is unreachable; please retry shortly.")
        meter.record_failure(Outcome.UPSTREAM_ERROR, error, message)
        await _refuse(scope, send, error)
        return None


class _Pumps:
    """The two directions of one open session, and how it ends."""

    def __init__(
        self,
        meter: SessionMeter,
        ws: aiohttp.ClientWebSocketResponse,
        receive: Receive,
        send: Send,
    ) -> None:
        self.meter, self.ws, self.receive, self.send = meter, ws, receive, send
        self.client_left = False
        self.upstream_ended = False
        self.client_code: int | None = None

    async def run(self) -> None:
        up = asyncio.create_task(self._from_client())
        down = asyncio.create_task(self._from_upstream())
        try:
            done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            other = down if up in done else up
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(other), _DRAIN_S)
        finally:
            for task in (up, down):
                task.cancel()
            for task in (up, down):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._close_meter()

    async def _from_client(self) -> None:
        ws = self.ws
        while True:
            message = await self.receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                self.client_left = True
                self.client_code = message.get("code", 1005)
                await ws.close(code=_sendable(self.client_code))
                return
            if kind != "websocket.receive":
                continue
            text = message.get("text")
            data: str | bytes = text if text is not None else message.get("bytes") or b""
            if _may_create(data):
                refusal = await self._admit(data)
                if refusal is not None:
                    await self.send({"type": "websocket.send", "text": refusal})
                    continue
            if isinstance(data, str):
                await ws.send_str(data)
            else:
                await ws.send_bytes(data)

    async def _admit(self, data: str | bytes) -> str | None:
        """None to relay the frame; else the ``error`` event refusing its ``response.create``."""
        event = _event(data)
        if event is None or event.get("type") != "response.create":
            return None
        refused = await self.meter.admit(event)
        if refused is None:
            return None
        client_event = event.get("event_id")
        return _error_event(refused, client_event if isinstance(client_event, str) else None)

    async def _from_upstream(self) -> None:
        ws, send = self.ws, self.send
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                data: str = message.data
                after = None
                if '"response.' in data or '"session.created"' in data:
                    after = await self._observe(data)
                await send({"type": "websocket.send", "text": data})
                if after is not None:
                    await send({"type": "websocket.send", "text": after})
            elif message.type is aiohttp.WSMsgType.BINARY:
                await send({"type": "websocket.send", "bytes": message.data})
        if not self.client_left:
            self.upstream_ended = True
            await send({"type": "websocket.close", "code": _sendable(ws.close_code)})

    async def _observe(self, data: str) -> str | None:
        """Read the few server events that meter the session (recorded before relaying);
        returns an ``error`` event to send the client after this one, if any."""
        event = _event(data)
        if event is None:
            return None
        kind = event.get("type")
        if kind == "response.done":
            await self.meter.response_done(event)
        elif kind == "response.created":
            refused = await self.meter.response_created(event)
            if refused is not None:  # started by turn detection, over budget: stop it
                response_id = event["response"]["id"]
                cancel = {"type": "response.cancel", "response_id": response_id}
                await self.ws.send_str(orjson.dumps(cancel).decode())
                return _error_event(refused, None)
        elif kind == "session.created":
            self.meter.session_created(event)
        return None

    async def _close_meter(self) -> None:
        if self.client_left and not self.upstream_ended:
            await self.meter.close(Outcome.CANCELLED, "client_disconnected",
                                   "the client closed the session")  # fmt: skip
            return
        code = self.ws.close_code
        if code in (None, 1006) or (code is not None and code >= 1011 and code < 3000):
            message = f"the upstream session ended abnormally (close code {code})"
            await self.meter.close(Outcome.UPSTREAM_ERROR, "upstream_disconnected", message)
        else:
            message = f"the upstream closed the session (close code {code})"
            await self.meter.close(Outcome.UPSTREAM_ERROR, "upstream_closed", message)


def _may_create(data: str | bytes) -> bool:
    """Whether a client frame could be a ``response.create`` (then it is parsed and admitted).

    A cheap test on every frame: the type spelled out, or any ``\\u`` escape (which could
    spell it too); base64 audio has neither. Binary frames are held to the same test.
    """
    if isinstance(data, str):
        return '"response.create"' in data or "\\u" in data
    return b'"response.create"' in data or b"\\u" in data


def _event(text: str | bytes) -> dict[str, Any] | None:
    try:
        event = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def _error_event(refused: GatewayError, client_event_id: str | None) -> str:
    """A Realtime ``error`` server event carrying the refusal's OpenAI error object."""
    error = refused.body()["error"] | {"event_id": client_event_id}
    event = {"event_id": "event_spendscope_refusal", "type": "error", "error": error}
    return orjson.dumps(event).decode()


def _sendable(code: int | None) -> int:
    """A close code that may go on the wire: 1005/1006/1015 are reserved for reporting."""
    if code is None or code in _UNSENDABLE:
        return 1011 if code in (None, 1006, 1015) else 1000
    return code


def _model(query: bytes) -> str | None:
    values = parse_qs(query.decode("latin-1")).get("model")
    return values[0][:200] if values and values[0] else None


async def _refuse(scope: Scope, send: Send, error: GatewayError) -> None:
    """Answer before the upgrade: an HTTP error where the server allows it, else a close."""
    if "websocket.http.response" in scope.get("extensions", {}):
        body = orjson.dumps(error.body())
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]  # fmt: skip
        headers += [(k.encode(), v.encode()) for k, v in error.response_headers().items()]
        await send({"type": "websocket.http.response.start", "status": error.status,
                    "headers": headers})  # fmt: skip
        await send({"type": "websocket.http.response.body", "body": body})
        return
    code = 1008 if error.status < 500 else 1011
    await send({"type": "websocket.close", "code": code, "reason": error.message[:120]})
