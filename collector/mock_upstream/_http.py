"""The HTTP shell shared by every endpoint: auth, faults, latency, headers, errors and SSE.

Everything OpenAI does around a response (request ids, rate-limit headers, error shape) lives
here once, so the endpoint modules only build bodies.
"""

from __future__ import annotations

import asyncio
import math
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from collector.mock_upstream._scenario import Fault, ScenarioError
from collector.mock_upstream._state import MockState

STATE = web.AppKey("spendscope_mock_state", MockState)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
    "blank username) if you're accessing the API from your browser and are prompted for a "
    "username. You can obtain an API key from https://platform.openai.com/account/api-keys."
)
_BAD_GATEWAY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class ApiError(Exception):
    """An OpenAI-shaped error a handler raises; the middleware renders it."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = (
            status,
            message,
            kind,
            param,
            code,
        )


@dataclass(slots=True)
class Ctx:
    """What the middleware learned about one request, handed to the endpoint handler."""

    state: MockState
    start: float
    fault: Fault
    body: dict[str, Any]
    tokens_per_s: float

    def headers(self, tokens: int, content_type: str = JSON_TYPE) -> dict[str, str]:
        """OpenAI's response headers; ``tokens`` is charged to the rate-limit window."""
        elapsed_ms = int((time.perf_counter() - self.start) * 1000)
        headers = {
            "Content-Type": content_type,
            "x-request-id": self.state.request_id(),
            "openai-processing-ms": str(elapsed_ms),
            "openai-version": "2020-10-01",
            "openai-organization": "spendscope-mock",
        }
        headers.update(self.state.rate_headers(tokens))
        return headers


_CTX = web.RequestKey("spendscope_mock_ctx", Ctx)


def ctx_of(request: web.Request) -> Ctx:
    return request[_CTX]


def bind_ctx(request: web.Request, ctx: Ctx) -> None:
    """Give a request built in-process (a Batch API line) the context a handler reads."""
    request[_CTX] = ctx


def error_body(message: str, kind: str, param: str | None, code: str | None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}})


def bill(
    request: web.Request, endpoint: str, model: str, usage: Any,
    tools: Mapping[str, Any] | None = None,
) -> None:  # fmt: skip
    """Book an answered request in the ledger the Costs and Usage APIs are served from."""
    key = request.headers.get("Authorization", "").partition(" ")[2].strip()
    ctx_of(request).state.ledger.record(endpoint, model, usage, key, datetime.now(UTC), tools)


def json_response(request: web.Request, payload: Any, tokens: int) -> web.Response:
    """A 200 JSON body with OpenAI's headers."""
    headers = ctx_of(request).headers(tokens)
    return web.Response(body=orjson.dumps(payload), headers=headers)


async def send_events(
    request: web.Request, events: list[tuple[bytes, bool]], tokens: int, done: bool = True
) -> web.StreamResponse:
    """Write SSE ``events`` (payload, paced?) honouring tokens-per-second and the ``cut`` fault;
    ``done`` appends ``data: [DONE]`` (chat and completions do, the Responses API does not)."""
    ctx = ctx_of(request)
    response = web.StreamResponse(headers=ctx.headers(tokens, SSE_TYPE))
    response.headers["Cache-Control"] = "no-cache"
    await response.prepare(request)
    if ctx.fault.kind == "cut":
        keep = int(ctx.fault.value) if ctx.fault.value is not None else len(events) // 2
        events = events[: max(1, min(keep, len(events) - 2))]
    if ctx.tokens_per_s <= 0:
        await response.write(b"".join(payload for payload, _ in events))
    else:
        await _paced(response, events, ctx.tokens_per_s)
    if ctx.fault.kind == "cut":
        _close(request, abort=False)
        return response
    if done:
        await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def _paced(
    response: web.StreamResponse, events: list[tuple[bytes, bool]], tps: float
) -> None:
    """Paced events go out on an absolute schedule so sleep overshoot never accumulates."""
    loop = asyncio.get_running_loop()
    origin, emitted = loop.time(), 0
    for payload, paced in events:
        if paced:
            emitted += 1
            delay = origin + emitted / tps - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        await response.write(payload)


def _close(request: web.Request, abort: bool) -> None:
    """Close the connection mid-response; ``abort`` sends a TCP RST (SO_LINGER 0)."""
    transport = request.transport
    if transport is None:
        return
    if abort:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()


def _error(
    status: int,
    message: str,
    kind: str,
    param: str | None = None,
    code: str | None = None,
    extra: dict[str, str] | None = None,
) -> web.Response:
    headers = {"Content-Type": JSON_TYPE, **(extra or {})}
    return web.Response(status=status, body=error_body(message, kind, param, code), headers=headers)


def _auth_error(request: web.Request, state: MockState) -> web.Response | None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        return _error(401, _NO_KEY, "invalid_request_error")
    if state.keys is not None and key not in state.keys:
        masked = f"{key[:3]}{'*' * 8}{key[-4:]}" if len(key) > 8 else "*" * len(key)
        message = (
            f"Incorrect API key provided: {masked}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
        return _error(401, message, "invalid_request_error", code="invalid_api_key")
    return None


async def _parse_body(request: web.Request) -> dict[str, Any]:
    if request.method != "POST" or not request.content_type.endswith("json"):
        return {}
    raw = await request.read()
    if not raw and request.path.endswith("/cancel"):
        return {}  # cancelling takes no body (the SDK sends none)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely "
            "means you aren't using your HTTP library correctly. The OpenAI API expects "
            "a JSON payload, but what was sent was not valid JSON.",
        )
    return body


def _fault_response(fault: Fault, model: str | None, state: MockState) -> web.Response | None:
    """The canned response for status faults; None when the handler must run."""
    if fault.kind == "429":
        wait = state.config.retry_after_s if fault.value is None else fault.value
        message = (
            f"Rate limit reached for {model or 'requests'} in organization spendscope-mock on "
            f"requests per min (RPM): Limit {state.config.rpm_limit}, Used "
            f"{state.config.rpm_limit}, Requested 1. Please try again in {int(wait * 1000)}ms."
        )
        extra = {
            "retry-after": str(max(1, math.ceil(wait))),
            "retry-after-ms": str(int(wait * 1000)),
            "x-ratelimit-remaining-requests": "0",
        }
        return _error(429, message, "requests", code="rate_limit_exceeded", extra=extra)
    if fault.kind == "500":
        return _error(
            500,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
        )
    if fault.kind == "503":
        return _error(
            503, "The engine is currently overloaded, please try again later.", "server_error"
        )
    if fault.kind == "502":
        return web.Response(status=502, body=_BAD_GATEWAY, content_type="text/html")
    return None


def _malformed(body: dict[str, Any]) -> web.Response:
    if body.get("stream") is True:
        text = b'data: {"id":"chatcmpl-malformed","object":"chat.completion.chunk","choices":[{\n\n'
        return web.Response(body=text + b"data: [DONE]\n\n", headers={"Content-Type": SSE_TYPE})
    text = b'{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{"index": 0,'
    return web.Response(body=text, headers={"Content-Type": JSON_TYPE})


async def _cut_body(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Send a JSON response's headers and half its body, then close the connection."""
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return response
    body = response.body
    cut = web.StreamResponse(status=response.status, headers=response.headers)
    cut.content_length = len(body)
    await cut.prepare(request)
    await cut.write(body[: len(body) // 2])
    _close(request, abort=False)
    return cut


@web.middleware
async def openai_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth → body → fault choice → latency → fault or handler, for every ``/v1`` route."""
    if not request.path.startswith("/v1/") or request.path.startswith("/v1/organization/"):
        return await handler(request)  # the admin APIs check the admin key themselves
    start = time.perf_counter()
    state = request.app[STATE]
    denied = _auth_error(request, state)
    if denied is not None:
        return denied
    try:
        return await _serve(request, handler, state, start)
    except ApiError as exc:
        return _error(exc.status, exc.message, exc.kind, exc.param, exc.code)
    except ScenarioError as exc:
        return _error(400, f"x-mock-fault: {exc}", "invalid_request_error", "x-mock-fault")
    except web.HTTPException as exc:
        if exc.status not in (404, 405):
            raise
        return _error(
            404, f"Invalid URL ({request.method} {request.path})", "invalid_request_error"
        )


async def _serve(
    request: web.Request, handler: Handler, state: MockState, start: float
) -> web.StreamResponse:
    body = await _parse_body(request)
    headers = request.headers
    model = body.get("model") if isinstance(body.get("model"), str) else None
    fault, rule_latency = state.planner.pick(
        headers.get("x-mock-fault"), headers.get("x-mock-scenario"), request.path, model
    )
    latency = _number(headers.get("x-mock-latency-ms"), rule_latency, state.config.latency_ms)
    tps = _number(headers.get("x-mock-tokens-per-s"), None, state.config.tokens_per_s)
    if latency > 0:
        await asyncio.sleep(latency / 1000)
    if fault.kind == "reset":
        _close(request, abort=True)
        return web.Response(status=500)
    canned = _fault_response(fault, model, state)
    if canned is not None:
        return canned
    if fault.kind == "malformed":
        return _malformed(body)
    if fault.kind == "timeout":
        await asyncio.sleep(state.config.timeout_fault_s if fault.value is None else fault.value)
    request[_CTX] = Ctx(state, start, fault, body, tps)
    response = await handler(request)
    if fault.kind == "cut" and not response.prepared:
        return await _cut_body(request, response)
    return response


def _number(header: str | None, fallback: float | None, default: float) -> float:
    if header is None:
        return default if fallback is None else fallback
    try:
        value = float(header)
    except ValueError:
        raise ApiError(400, f"invalid number in x-mock header: {header!r}") from None
    if value < 0 or not math.isfinite(value):
        raise ApiError(400, f"x-mock header must be a finite number >= 0: {header!r}")
    return value
