"""The ``/v1`` handler as a pure ASGI app: admit → forward → relay → settle → record.

Pure ASGI keeps the hot path lean (no request objects, no middleware per request) and lets
streams go out as they arrive. Every request — refused, failed, cancelled or served —
leaves exactly one ``UsageEvent`` with the recorder (none when ``record_requests`` is off,
only to measure what recording costs). An answered request is handed over just before its
last byte is sent, so once a client has a complete answer its row is already journaled (and
with ``fsync`` durability on disk); one that never completes is handed over when it ends.
While a request is in flight a watcher listens for the client going away; it then
cancels the work, which closes the upstream connection, and the row says ``cancelled``.
The watcher starts only once a request has run for ``WATCH_AFTER_S``: most non-streamed
answers are done by then and never pay for a task (see docs/performance.md), and a
client that left earlier is still seen the moment the watcher starts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from collector.admission import AdmissionRequest, Reservation
from collector.errors import (
    GatewayError,
    PayloadTooLarge,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from collector.gateway._batch_budget import with_background_estimate, with_batch_estimate
from collector.gateway._body import BodyReader, ClientGone
from collector.gateway._exchange import Exchange
from collector.gateway._files import after_upload
from collector.gateway._forward import Failure, Reply
from collector.gateway._intake import Call, Kind, parse_call, traceparent
from collector.gateway._jobs import (
    UploadBody,
    after_reply,
    check_access,
    check_upload_size,
    is_upload,
)
from collector.gateway._keyauth import authenticate
from collector.gateway._paths import check_path
from collector.gateway._relay import relay_body, relay_raw, relay_sse, send_error, settle_stream
from collector.gateway._runtime import Runtime
from collector.gateway._stored_responses import after_answer, register_stream, wants_registration
from collector.gateway._unanswered import in_flight
from collector.keys import parse_attribution
from collector.recorder import new_request_id
from collector.usage import Outcome

log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
WATCH_AFTER_S = 0.05
DURABLE_WAIT_S = 5.0  # longest a response waits for its journal fsync (a hung disk)


class _Headers:
    """The few client headers the gateway reads, found in one pass."""

    __slots__ = ("authorization", "content_length", "content_type", "spendscope", "traceparent")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.authorization: str | None = None
        self.content_type = ""
        self.content_length: int | None = None
        self.spendscope: dict[str, str] = {}
        self.traceparent: str | None = None
        for name, value in raw:
            if name == b"authorization":
                self.authorization = value.decode("latin-1")
            elif name == b"content-type":
                self.content_type = value.decode("latin-1")
            elif name == b"content-length":
                self.content_length = int(value) if value.isdigit() else None
            elif name.startswith(b"x-spendscope-"):
                self.spendscope[name.decode("latin-1")] = value.decode("utf-8", "replace")
            elif name == b"traceparent":
                self.traceparent = traceparent(value)


class Proxy:
    """Serves every ``/v1`` path: the known endpoints are metered, the rest pass through."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._record = runtime.settings.record_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        ex = Exchange(new_request_id(), datetime.now(UTC), time.perf_counter(), scope["path"])
        if self._record:
            ex.hand_off = self._hand_off
        reservation: Reservation | None = None
        self.rt.in_flight += 1
        body = BodyReader(self.rt.bodies, self.rt.settings.max_body_bytes)
        try:
            admitted = await self._admit(scope, receive, send, ex, body)
            if admitted is not None:
                call, reservation = admitted
                await self._serve(scope, receive, send, ex, call)
        finally:
            body.release()
            if self._record and not ex.recorded:
                self.rt.record(ex)
            self.rt.in_flight -= 1
        if reservation is not None:
            await self._settle(reservation, ex)

    async def _admit(
        self, scope: Scope, receive: Receive, send: Send, ex: Exchange, body: BodyReader
    ) -> tuple[Call, Reservation | None] | None:
        """Authenticate, read, validate and admit; a refusal is answered and recorded here."""
        headers = _Headers(scope["headers"])
        ex.traceparent = headers.traceparent
        try:
            check_path(scope)
            ex.principal = principal = await authenticate(self.rt, headers.authorization)
            method, path = scope["method"], scope["path"]
            if is_upload(method, path):  # streamed to upstream in _serve, never held here
                check_upload_size(headers.content_length)
                ex.call = call = Call(
                    method, path, scope["query_string"], Kind.OTHER, b"", headers.content_type
                )
            else:
                raw = await body.read(receive, headers.content_length)
                ex.call = call = parse_call(
                    method, path, scope["query_string"], raw, headers.content_type
                )
                await check_access(self.rt.owners, call, principal.project_id)
            ex.attribution = parse_attribution(headers.spendscope, call.user, principal)
            request = AdmissionRequest(
                path,
                call.model,
                call.stream,
                call.body,
                ex.attribution,
                ex.started_at,
                ex.prompt_tokens,
                prompt_bound=ex.prompt_bound,
            )
            request = await with_batch_estimate(self.rt, principal, call, request)
            request = await with_background_estimate(self.rt, principal, call, request)
            return call, await self.rt.admission.check(principal, request)
        except GatewayError as exc:
            ex.refuse(exc)
            await send_error(send, ex, exc)
        except ClientGone:
            ex.fail(Outcome.CANCELLED, "client_disconnected", "client left before sending its body")
        return None

    async def _hand_off(self, ex: Exchange) -> None:
        """Record before the last byte; with fsync durability, wait (bounded) for the disk."""
        durable = self.rt.record(ex)
        if durable is None:
            return
        try:
            await asyncio.wait_for(durable, DURABLE_WAIT_S)
        except TimeoutError:
            log.error(
                "gateway: journal fsync took over %.0f s; answering %s", DURABLE_WAIT_S, ex.id
            )

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, ex: Exchange, call: Call
    ) -> None:
        """Forward and relay while watching for the client to go away."""
        if is_upload(call.method, call.path):
            await self._upload(scope, receive, send, ex, call)
            return
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - type narrowing: always inside a task
        watch = _DisconnectWatch(receive, ex, task)
        try:
            if (cached := await self.rt.cache.lookup(scope["headers"], send, ex, call)).answered:
                return
            if wants_registration(call):
                ex.on_started = partial(register_stream, self.rt.owners)
            result = await self.rt.forwarder.forward(call, scope["headers"], ex)
            if isinstance(result, Reply):
                await after_reply(self.rt.owners, ex, result)
            await self._relay(send, ex, call, result)
            if call.path.startswith("/v1/responses"):  # a background response's end, if seen
                rt = self.rt
                await after_answer(rt.owners, ex, call, result, rt.submit_lines, rt.overrides)
            await self.rt.cache.keep(cached, ex, call, result)
        except asyncio.CancelledError:
            self._cancelled(ex)
            if not ex.disconnected:
                raise  # the server is shutting down, not the client leaving
            task.uncancel()
        finally:
            watch.close()

    async def _upload(
        self, scope: Scope, receive: Receive, send: Send, ex: Exchange, call: Call
    ) -> None:
        """A file upload: the body streams through as it arrives (it is the receive channel,
        so no disconnect watcher runs; a client that leaves ends the upstream request)."""
        length = _Headers(scope["headers"]).content_length
        body = UploadBody(receive)
        chunks = body.chunks()
        try:
            result = await self.rt.forwarder.upload(call, scope["headers"], ex, chunks, length)
            if body.error is not None:
                raise body.error
        except PayloadTooLarge as exc:
            ex.refuse(exc)
            await send_error(send, ex, exc)
            return
        except ClientGone:
            ex.fail(Outcome.CANCELLED, "client_disconnected", "client left during its upload")
            return
        finally:
            await chunks.aclose()
        if isinstance(result, Reply):
            await after_upload(self.rt.owners, ex, result)
        await self._relay(send, ex, call, result)

    async def _relay(self, send: Send, ex: Exchange, call: Call, result: Reply | Failure) -> None:
        overrides = self.rt.overrides
        if isinstance(result, Failure):
            error: GatewayError = (
                UpstreamTimeout("The upstream did not answer in time.")
                if result.timed_out
                else UpstreamUnavailable("The upstream is unreachable; please retry shortly.")
            )
            log.warning("gateway: request %s failed upstream: %s", ex.id, result.message)
            ex.http_status = error.status
            ex.fail(Outcome.TIMEOUT if result.timed_out else Outcome.UPSTREAM_ERROR,
                    error.instance_code or error.type, error.message)  # fmt: skip
            ex.settle(overrides)
            await send_error(send, ex, error)
        elif result.response is None:
            await relay_body(send, ex, call, result, overrides)
        elif result.headers.get("content-type", "").startswith("text/event-stream"):
            await relay_sse(send, ex, call, result, overrides)
        else:
            await relay_raw(send, ex, call, result, overrides)

    def _cancelled(self, ex: Exchange) -> None:
        """The client left mid-request: keep what was consumed, priced as an estimate."""
        ex.fail(Outcome.CANCELLED, "client_disconnected", "client disconnected mid-request")
        if ex.attempts:
            last = ex.attempts[-1]
            if in_flight(last) and ex.observer is None:  # upstream may serve and bill it still
                ex.unanswered.append(last)
            last.duration_ms = (time.perf_counter() - ex.t0) * 1000
            last.error_type = last.error_type or "cancelled"
            last.error_message = last.error_message or "client disconnected"
        settle_stream(ex, self.rt.overrides)

    async def _settle(self, reservation: Reservation, ex: Exchange) -> None:
        try:
            await self.rt.admission.settle(reservation, ex.cost.cost_usd, ex.usage)
        except Exception:
            log.exception("gateway: admission settle failed for %s", ex.id)


class _DisconnectWatch:
    """Cancels a request's task when its client disconnects before the answer is complete."""

    __slots__ = ("_ex", "_receive", "_task", "_timer", "_watcher")

    def __init__(self, receive: Receive, ex: Exchange, task: asyncio.Task[Any]) -> None:
        self._receive, self._ex, self._task = receive, ex, task
        self._watcher: asyncio.Task[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, self._start)

    def _start(self) -> None:
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        if not self._ex.responded:
            self._ex.disconnected = True
            self._task.cancel()

    def close(self) -> None:
        self._timer.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
