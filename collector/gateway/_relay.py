"""Relaying upstream answers to the client over raw ASGI ``send``, and settling their cost.

Three shapes: a read body (JSON, errors) goes out whole with ``x-spendscope-cost-usd``; an
SSE stream goes out event by event as it arrives, observed on the way (TTFT, model, text,
usage); a binary stream (speech audio) goes out chunk by chunk, priced from the request.
Every answer carries ``x-spendscope-request-id``, set before the first byte.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import aiohttp
import orjson

from collector.errors import GatewayError, UpstreamAuthFailed
from collector.gateway._background import STORED_RESPONSES, defer, running
from collector.gateway._exchange import Exchange, outcome_for_status
from collector.gateway._forward import Reply
from collector.gateway._intake import Call, Kind
from collector.gateway._speech import speech_estimate
from collector.gateway._sse import StreamObserver
from collector.gateway._tools import with_tool_calls
from collector.gateway._upstream import relay_headers
from collector.gateway._usage import request_side_usage, usage_from_body
from collector.pricing import PriceOverride
from collector.recorder import BACKGROUND_KEY
from collector.secrets import redact, redact_keys
from collector.usage import CostSource, Outcome

log = logging.getLogger(__name__)
Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
_JSON = (b"content-type", b"application/json")
_COUNTABLE = frozenset({Kind.CHAT, Kind.COMPLETIONS, Kind.RESPONSES, Kind.EMBEDDINGS})


def _ours(ex: Exchange, *, cost: bool) -> list[tuple[bytes, bytes]]:
    headers = [(b"x-spendscope-request-id", ex.id.encode())]
    if cost and ex.cost.cost_usd is not None:
        headers.append((b"x-spendscope-cost-usd", str(ex.cost.cost_usd).encode()))
    return headers


async def _finish(send: Send, ex: Exchange, body: bytes, start: Message | None = None) -> None:
    """The last body message. Before it goes out the exchange counts as answered and is
    handed to the recorder (so no answer the client completes can go unrecorded).

    A body sent whole passes its ``http.response.start`` too: it is handed off before the
    headers, which then go out right before the body. Recording between the two made the
    client wake for the headers, then again for the body (a second read on every request).
    """
    ex.responded = True
    if ex.hand_off is not None:
        await ex.hand_off(ex)
    if start is not None:
        await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_error(send: Send, ex: Exchange, exc: GatewayError) -> None:
    """Our own OpenAI-shaped error (the one place gateway errors meet the wire)."""
    body = orjson.dumps(exc.body())
    headers = [_JSON, (b"content-length", str(len(body)).encode()), *_ours(ex, cost=False)]
    headers += [(k.encode(), v.encode()) for k, v in exc.response_headers().items()]
    await _finish(
        send, ex, body, {"type": "http.response.start", "status": exc.status, "headers": headers}
    )


def _note_reply(ex: Exchange, reply: Reply) -> None:
    ex.http_status = reply.status
    ex.upstream = reply.upstream.name
    ex.regional = reply.upstream.regional
    ex.provider = reply.upstream.provider
    ex.upstream_request_id = reply.headers.get("x-request-id")
    ex.model_served = reply.attempt.model
    ex.outcome = outcome_for_status(reply.status)
    if reply.status >= 400:
        ex.error_type = reply.attempt.error_type
        ex.error_message = reply.attempt.error_message
    else:
        ex.answered = True


def settle_reply(
    ex: Exchange, call: Call, reply: Reply, overrides: Sequence[PriceOverride]
) -> None:
    """A body read whole, priced without being sent (a call the gateway makes itself)."""
    _note_reply(ex, reply)
    if reply.status < 300:
        _read_usage(ex, call, reply)
    ex.settle(overrides)


async def relay_body(
    send: Send, ex: Exchange, call: Call, reply: Reply, overrides: Sequence[PriceOverride]
) -> None:
    """A body read whole: usage from it, priced, then sent with our headers."""
    _note_reply(ex, reply)
    if reply.status == 401:
        await _credentials_refused(send, ex, reply, overrides)
        return
    if reply.status < 300:
        _read_usage(ex, call, reply)
    ex.settle(overrides)
    body = reply.body if reply.status < 400 else _scrubbed(reply.body)
    headers = relay_headers(reply.raw_headers)
    headers.append((b"content-length", str(len(body)).encode()))
    headers += _ours(ex, cost=True)
    await _finish(
        send, ex, body, {"type": "http.response.start", "status": reply.status, "headers": headers}
    )


async def _credentials_refused(
    send: Send, ex: Exchange, reply: Reply, overrides: Sequence[PriceOverride]
) -> None:
    """Upstream refused the *server's* key: the client's key was fine, so the client learns
    only that the gateway is misconfigured; the cause (key redacted) goes to logs and rows."""
    log.error(
        "gateway: upstream %r rejected the server's API key: %s",
        reply.upstream.name,
        ex.error_message,
    )
    error = UpstreamAuthFailed(
        "The gateway's upstream credentials were refused; an operator must fix the upstream key."
    )
    ex.settle(overrides)
    cause = ex.error_message
    ex.refuse(error)
    ex.error_message = f"upstream refused the server's key: {cause}"[:1000]
    await send_error(send, ex, error)


def _scrubbed(body: bytes) -> bytes:
    """An upstream error body without API-key fragments (it may quote the server's key)."""
    text = body.decode("utf-8", "replace")
    clean = redact_keys(text)
    return body if clean == text else clean.encode()


def _read_usage(ex: Exchange, call: Call, reply: Reply) -> None:
    if ex.notes is not None and BACKGROUND_KEY in ex.notes:
        return  # a background response started: its usage is recorded when it ends
    if call.path.startswith(STORED_RESPONSES):
        return  # a stored response read or cancelled: its usage was (or will be) recorded once
    try:
        parsed = orjson.loads(reply.body) if reply.body[:1] == b"{" else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        if isinstance(parsed.get("model"), str):
            ex.model_served = parsed["model"]
        if isinstance(parsed.get("service_tier"), str):
            ex.service_tier = parsed["service_tier"]
    ex.usage = usage_from_body(call, parsed) or request_side_usage(call)
    if ex.usage is None and call.kind in _COUNTABLE:
        ex.observer = StreamObserver(call, strip_usage=False)  # nothing streamed: prompt only
        ex.estimate_from_stream()


async def relay_sse(
    send: Send, ex: Exchange, call: Call, reply: Reply, overrides: Sequence[PriceOverride]
) -> None:
    """Pass SSE events on as they arrive; never retried once the headers went out.

    The read that reaches the end of the upstream body goes out with the end of ours, in
    one write, after the cost is settled and the request handed to the recorder.
    """
    assert reply.response is not None  # noqa: S101 - type narrowing: streamed replies keep their response
    _note_reply(ex, reply)
    obs = ex.observer = StreamObserver(call, strip_usage=call.force_usage)
    headers = relay_headers(reply.raw_headers) + _ours(ex, cost=False)
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    content, tail, clean = reply.response.content, b"", False
    try:
        async for chunk in content.iter_any():
            if ex.capture is not None:  # kept for the response cache
                ex.capture.append(chunk)
            out = obs.feed(chunk)
            if ex.on_started is not None and obs.started is not None:
                await ex.on_started(ex)  # a background response: registered before it is seen
            if out and ex.ttft_ms is None:
                ex.ttft_ms = (time.perf_counter() - ex.t0) * 1000
            if content.at_eof():
                tail = out
                break
            if out:
                await send({"type": "http.response.body", "body": out, "more_body": True})
        tail += obs.close()
        if call.kind in _COUNTABLE and not obs.done and obs.usage is None:
            raise aiohttp.ClientPayloadError("upstream stream ended before it completed")
        clean = True
    except (TimeoutError, aiohttp.ClientError) as exc:
        tail += _interrupted(ex, reply, exc)
    finally:
        _let_go(reply.response, clean)
    reply.attempt.duration_ms = (time.perf_counter() - ex.t0) * 1000
    settle_stream(ex, overrides)
    await _finish(send, ex, tail)


def _let_go(response: aiohttp.ClientResponse, clean: bool) -> None:
    """Back to the pool when read to the end; else drop the connection (upstream stops)."""
    if clean:
        response.release()
    else:
        response.close()


def settle_stream(ex: Exchange, overrides: Sequence[PriceOverride]) -> None:
    """Usage from the stream, else counted from what was streamed (``estimated``)."""
    obs = ex.observer
    note = running(ex.call, obs.started) if obs is not None and not obs.done else None
    if note is not None:  # a background stream cut: its response goes on upstream
        defer(ex, note)
    deferred = ex.notes is not None and BACKGROUND_KEY in ex.notes
    if deferred or (ex.call is not None and ex.call.path.startswith(STORED_RESPONSES)):
        # a background response's usage is its own row (``_stored_responses``)
        ex.model_served = obs.model if obs is not None and obs.model else ex.model_served
        ex.settle(overrides)
        return
    if obs is not None:
        ex.model_served = obs.model or ex.model_served
        ex.service_tier = obs.service_tier
        if obs.error and ex.outcome is Outcome.SUCCESS:
            ex.fail(Outcome.UPSTREAM_ERROR, "stream_error", obs.error)
        ex.usage = obs.usage
        if ex.call is not None:
            ex.usage = with_tool_calls(ex.call, obs.usage, obs.output, ex.model_served)
        ex.estimate_from_stream()
    ex.settle(overrides)


def _interrupted(ex: Exchange, reply: Reply, exc: BaseException) -> bytes:
    """Record a stream cut by upstream and tell the client in the SDK's error shape."""
    timed_out = isinstance(exc, TimeoutError)
    kind = "timeout" if timed_out else "upstream_stream_interrupted"
    message = redact(f"upstream stream interrupted: {type(exc).__name__}: {exc}".strip(": "))
    ex.fail(Outcome.TIMEOUT if timed_out else Outcome.UPSTREAM_ERROR, kind, message)
    reply.attempt.error_type, reply.attempt.error_message = kind, message
    error = {"message": message, "type": "server_error", "param": None, "code": kind}
    return b"data: " + orjson.dumps({"type": "error", "error": error}) + b"\n\n"


async def relay_raw(
    send: Send, ex: Exchange, call: Call, reply: Reply, overrides: Sequence[PriceOverride]
) -> None:
    """Binary bodies (speech audio) stream through; the cost comes from the request and, for
    speech priced per token, from the audio's size (known up front when upstream says it)."""
    response = reply.response
    assert response is not None  # noqa: S101 - type narrowing: streamed replies keep their response
    _note_reply(ex, reply)
    size = response.content_length
    _settle_raw(ex, call, size, response.content_type, overrides)
    # priced per token with no length known: settled once the audio's size is
    late = size is None and ex.answered and ex.cost.cost_source is CostSource.UNPRICED
    headers = relay_headers(reply.raw_headers) + _ours(ex, cost=not late)
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    clean, sent = False, 0
    try:
        async for chunk in response.content.iter_any():
            if ex.ttft_ms is None:
                ex.ttft_ms = (time.perf_counter() - ex.t0) * 1000
            sent += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        clean = True
    except (TimeoutError, aiohttp.ClientError) as exc:
        timed_out = isinstance(exc, TimeoutError)
        ex.fail(Outcome.TIMEOUT if timed_out else Outcome.UPSTREAM_ERROR, "interrupted", str(exc))
    finally:
        _let_go(response, clean)
    if late:
        _settle_raw(ex, call, sent, response.content_type, overrides)
    reply.attempt.duration_ms = (time.perf_counter() - ex.t0) * 1000
    await _finish(send, ex, b"")


def _settle_raw(
    ex: Exchange,
    call: Call,
    size: int | None,
    content_type: str,
    overrides: Sequence[PriceOverride],
) -> None:
    """Price from the request (characters), else from ``size`` bytes of audio when known."""
    ex.usage = request_side_usage(call)
    answered = ex.answered and size is not None
    ex.fallback = speech_estimate(call, size, content_type) if answered and size else None
    ex.settle(overrides)
