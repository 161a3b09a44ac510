"""Direct mode: the client talks to OpenAI itself; each call's usage is reported afterwards.

An httpx transport wraps the client's own: a request to a metered endpoint notes its start
and attribution (in the caller's thread or task, so ``attribute()`` scopes apply), and its
response body is passed through untouched while a copy is kept. When the body is done
(read, streamed to the end, or closed early), the call's usage — the response's ``usage``
object, or a stream's last one — becomes an ingest event handed to the :class:`Shipper`.
Nothing here raises into the app's call: a failure to build an event is logged.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import orjson

from collector.sdk._context import Attribution, CallRecord, merged, record_call
from collector.sdk._hooks import TRACEPARENT_KEY, OnCall, current_traceparent
from collector.sdk._shipper import Shipper
from collector.usage import REPORTED_PATHS

log = logging.getLogger(__name__)
MAX_KEPT_BYTES = 16 * 1024 * 1024  # a longer body is passed on but not searched for usage
_SUFFIXES = tuple((path.removeprefix("/v1"), path) for path in REPORTED_PATHS)


def _endpoint(request: httpx.Request) -> str | None:
    """The metered endpoint a request goes to (any base URL prefix), else None."""
    if request.method != "POST":
        return None
    path = request.url.path
    for suffix, endpoint in _SUFFIXES:
        if path.endswith(suffix):
            return endpoint
    return None


class _Call:
    """One metered call from its request to the end of its response body."""

    __slots__ = (
        "attribution", "ended", "endpoint", "event_id", "first_at", "started", "t0", "traceparent",
    )  # fmt: skip

    def __init__(self, endpoint: str, event_id: str, attribution: Attribution, trace: str | None):
        self.endpoint, self.event_id = endpoint, event_id
        self.attribution, self.traceparent = attribution, trace
        self.started, self.t0 = time.time(), time.perf_counter()
        self.first_at: float | None = None
        self.ended = self.t0


class Meter:
    """Turns finished calls into ingest events (one per instrumented client)."""

    def __init__(
        self,
        shipper: Shipper,
        base: Attribution,
        on_call: OnCall | None = None,
        propagate_trace: bool = True,
    ) -> None:
        self.shipper, self.base = shipper, base
        self.on_call, self.propagate_trace = on_call, propagate_trace
        self._prefix = secrets.token_hex(6)
        self._ids = itertools.count(1)

    def start(self, request: httpx.Request) -> _Call | None:
        endpoint = _endpoint(request)
        if endpoint is None:
            return None
        trace = current_traceparent() if self.propagate_trace else None
        return _Call(endpoint, f"{self._prefix}-{next(self._ids)}", merged(self.base), trace)

    def finish(
        self, call: _Call, request: httpx.Request, response: httpx.Response, body: bytes
    ) -> None:
        """Record the call for ``last_call()`` and queue its event; never raises.

        Only what the caller's thread must see is done here: the body is parsed and the
        event built by the shipper's thread (``Shipper.submit`` takes a callable).
        """
        try:
            call.ended = time.perf_counter()
            stream, upstream_id = _read_headers(response.headers.raw)
            status = response.status_code

            def event() -> dict[str, Any]:
                return self._event(call, request, status, stream, upstream_id, body)

            self.shipper.submit(event)
            self._record(call, request, status, stream, upstream_id)
        except Exception:
            log.exception("spendscope: could not report a call to %s", call.endpoint)

    def failed(self, call: _Call, request: httpx.Request, exc: Exception) -> None:
        """The call got no answer (connection error, timeout): reported without usage."""
        try:
            call.ended = time.perf_counter()
            event = self._base_event(call, _request_model(request) or "unknown")
            timed_out = isinstance(exc, httpx.TimeoutException)
            event["outcome"] = "timeout" if timed_out else "upstream_error"
            event["error"] = {"type": type(exc).__name__, "message": str(exc)[:500]}
            self.shipper.submit(event)
        except Exception:
            log.exception("spendscope: could not report a failed call to %s", call.endpoint)

    def _base_event(self, call: _Call, model: str) -> dict[str, Any]:
        a = call.attribution
        event: dict[str, Any] = {
            "event_id": call.event_id,
            "model": model,
            "endpoint": call.endpoint,
            "started_at": call.started,
            "latency_ms": (call.ended - call.t0) * 1000,
        }
        if a.user is not None:
            event["user"] = a.user
        if a.tags:
            event["tags"] = a.tags
        metadata = a.metadata
        if call.traceparent is not None and TRACEPARENT_KEY not in metadata:
            metadata = {**metadata, TRACEPARENT_KEY: call.traceparent}
        if metadata:
            event["metadata"] = metadata
        return event

    def _event(
        self,
        call: _Call,
        request: httpx.Request,
        status: int,
        stream: bool,
        upstream_id: str | None,
        body: bytes,
    ) -> dict[str, Any]:
        found = _last_usage(body) if stream else _json_object(body)
        model = found.get("model") if isinstance(found.get("model"), str) else None
        event = self._base_event(call, model or _request_model(request) or "unknown")
        event["http_status"] = status
        if found.get("usage") is not None:
            event["usage"] = found["usage"]
        if isinstance(found.get("service_tier"), str):
            event["service_tier"] = found["service_tier"]
        if isinstance(found.get("error"), dict | str):
            event["error"] = found["error"]
        if stream:
            event["stream"] = True
            if call.first_at is not None:
                event["ttft_ms"] = (call.first_at - call.t0) * 1000
        if upstream_id:
            event["upstream_request_id"] = upstream_id[:200]
        return event

    def _record(
        self,
        call: _Call,
        request: httpx.Request,
        status: int,
        stream: bool,
        upstream_id: str | None,
    ) -> None:
        record = CallRecord(
            request_id=None,
            cost_usd=None,
            status_code=status,
            method=request.method,
            path=request.url.path,
            stream=stream,
            upstream_request_id=upstream_id,
            event_id=call.event_id,
        )
        record_call(record)
        if self.on_call is not None:
            try:
                self.on_call(record)
            except Exception:
                log.exception("spendscope: the on_call callback failed")


def _read_headers(raw: list[tuple[bytes, bytes]]) -> tuple[bool, str | None]:
    """(an SSE stream?, OpenAI's ``x-request-id``), in one pass over the raw headers."""
    stream, upstream_id = False, None
    for name, value in raw:
        lowered = name.lower()
        if lowered == b"content-type":
            stream = value.startswith(b"text/event-stream")
        elif lowered == b"x-request-id":
            upstream_id = value.decode("latin-1")
    return stream, upstream_id


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _last_usage(body: bytes) -> dict[str, Any]:
    """The last SSE event with a usage: a chat chunk's ``usage``, or the ``response`` of a
    Responses stream's ``response.completed`` (its model and usage)."""
    for line in reversed(body.split(b"\n")):
        if not line.startswith(b"data:") or b'"usage"' not in line:
            continue
        found = _json_object(line[5:])
        inner = found.get("response")
        if isinstance(inner, dict) and inner.get("usage") is not None:
            return inner
        if found.get("usage") is not None:
            return found
    return {}


def _request_model(request: httpx.Request) -> str | None:
    """The model the request asked for (read only when the answer does not say)."""
    try:
        found = _json_object(request.content)
    except httpx.RequestNotRead:
        return None
    model = found.get("model")
    return model if isinstance(model, str) else None


class _Tee:
    """Keeps a copy of a body as it passes, and reports the call once when it ends."""

    __slots__ = ("_call", "_chunks", "_done", "_finish", "_size")

    def __init__(self, call: _Call, finish: Callable[[bytes], None]) -> None:
        self._call, self._finish = call, finish
        self._chunks: list[bytes] = []
        self._size = 0
        self._done = False

    def keep(self, chunk: bytes) -> None:
        if self._call.first_at is None:
            self._call.first_at = time.perf_counter()
        self._size += len(chunk)
        if self._size <= MAX_KEPT_BYTES:
            self._chunks.append(chunk)

    def end(self) -> None:
        if not self._done:
            self._done = True
            self._finish(b"".join(self._chunks))


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, tee: _Tee) -> None:
        self._inner, self._tee = inner, tee

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._tee.keep(chunk)
            yield chunk

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._tee.end()


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, tee: _Tee) -> None:
        self._inner, self._tee = inner, tee

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._tee.keep(chunk)
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._tee.end()


def _teed(meter: Meter, call: _Call, request: httpx.Request, response: httpx.Response) -> _Tee:
    def finish(body: bytes) -> None:
        meter.finish(call, request, response, body)

    return _Tee(call, finish)


def _ended_in_full(tee: _Tee, response: httpx.Response) -> bool:
    """A body read already (a transport that answered in full) is reported at once."""
    if not response.is_closed:
        return False
    tee.keep(response.content)
    tee.end()
    return True


class MeteringTransport(httpx.BaseTransport):
    """The client's transport, with each metered call reported when its body ends."""

    def __init__(self, inner: httpx.BaseTransport, meter: Meter) -> None:
        self.inner, self.meter = inner, meter

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        call = self.meter.start(request)
        if call is None:
            return self.inner.handle_request(request)
        try:
            response = self.inner.handle_request(request)
        except Exception as exc:
            self.meter.failed(call, request, exc)
            raise
        assert isinstance(response.stream, httpx.SyncByteStream)  # noqa: S101 - httpx's contract
        tee = _teed(self.meter, call, request, response)
        if not _ended_in_full(tee, response):  # only the body is wrapped, headers kept
            response.stream = _SyncStream(response.stream, tee)
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncMeteringTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`MeteringTransport`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, meter: Meter) -> None:
        self.inner, self.meter = inner, meter

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        call = self.meter.start(request)
        if call is None:
            return await self.inner.handle_async_request(request)
        try:
            response = await self.inner.handle_async_request(request)
        except Exception as exc:
            self.meter.failed(call, request, exc)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)  # noqa: S101 - httpx's contract
        tee = _teed(self.meter, call, request, response)
        if not _ended_in_full(tee, response):  # only the body is wrapped, headers kept
            response.stream = _AsyncStream(response.stream, tee)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
