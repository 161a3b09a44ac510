"""Forwarding with retries and fallbacks: every upstream try is an ``AttemptEvent``.

A try is retried on 429/500/502/503/504, connection errors and timeouts, after exponential
backoff with full jitter (or the server's ``retry-after-ms``/``Retry-After``), up to
``max_attempts`` per model; then the fallback chain's next model gets its own tries. Only
answers that are complete before the client sees a byte are retried: JSON and error bodies
are read here (a body cut mid-way is a connection error, retried); a 2xx stream (SSE or
binary) is handed to the relay open, and from then on is never retried. Each try takes the
upstream's next key (``_keyring``); a key refused with 401/403 leaves the rotation and the try
is repeated at once with another key, without counting against ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import orjson
from multidict import CIMultiDictProxy

from collector.gateway._exchange import Exchange
from collector.gateway._intake import Call
from collector.gateway._keyring import REVOKING_STATUS, UpstreamKey
from collector.gateway._unanswered import may_be_billed
from collector.gateway._upstream import (
    RETRYABLE_STATUS,
    Upstream,
    UpstreamTable,
    backoff_s,
    retry_after_s,
    upstream_headers,
)
from collector.recorder import AttemptEvent
from collector.secrets import redact, redact_keys
from collector.settings import Settings

_READ_WHOLE = frozenset({"application/json", "application/problem+json"})


@dataclass(slots=True)
class Reply:
    """The final upstream answer: a read ``body``, or an open ``response`` to stream."""

    status: int
    headers: CIMultiDictProxy[str]
    raw_headers: tuple[tuple[bytes, bytes], ...]
    attempt: AttemptEvent
    upstream: Upstream
    body: bytes = b""
    response: aiohttp.ClientResponse | None = None
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_STATUS


@dataclass(slots=True)
class Failure:
    """Every try failed without an HTTP answer (timeout or connection error)."""

    timed_out: bool
    message: str


@dataclass(frozen=True, slots=True)
class Forwarder:
    """The pooled upstream client plus the routing table and retry settings."""

    session: aiohttp.ClientSession
    table: UpstreamTable
    settings: Settings
    timeout: aiohttp.ClientTimeout

    async def forward(
        self, call: Call, client_headers: Sequence[tuple[bytes, bytes]], ex: Exchange
    ) -> Reply | Failure:
        """Try the requested model, then its fallbacks; return the last answer or failure."""
        s = self.settings
        last: Reply | Failure = Failure(False, "no upstream try was made")
        for model in self.table.models_to_try(call.model):
            upstream = self.table.for_model(model)
            headers = upstream_headers(client_headers, upstream, with_key=False)
            url = upstream.url(call.path, call.query)
            payload = call.payload_for(model)
            for n in range(1, s.max_attempts + 1):
                last = await self._try_keys(call, url, headers, payload, model, upstream, ex)
                if isinstance(last, Reply) and not last.retryable:
                    return last
                if n < s.max_attempts:
                    hint = last.retry_after if isinstance(last, Reply) else None
                    await asyncio.sleep(backoff_s(n, s.backoff_base_ms, s.backoff_max_ms, hint))
        return last

    async def upload(
        self,
        call: Call,
        client_headers: Sequence[tuple[bytes, bytes]],
        ex: Exchange,
        body: AsyncIterable[bytes],
        length: int | None,
    ) -> Reply | Failure:
        """A body streamed from the client (a file upload): one try, never retried."""
        upstream = self.table.for_model(None)
        headers = upstream_headers(client_headers, upstream, with_key=False)
        if length is not None:
            headers.append(("Content-Length", str(length)))
        url = upstream.url(call.path, call.query)
        key = upstream.keyring.choose()
        reply = await self._try(call, url, headers, body, model=None, upstream=upstream, ex=ex,
                                key=key)  # fmt: skip
        if isinstance(reply, Reply) and key and reply.status in REVOKING_STATUS:
            upstream.keyring.revoke(key)  # the body is spent: no second try, but the next call
        return reply

    async def _try_keys(
        self,
        call: Call,
        url: str,
        headers: list[tuple[str, str]],
        payload: bytes,
        model: str | None,
        upstream: Upstream,
        ex: Exchange,
    ) -> Reply | Failure:
        """One try, repeated with the next key while keys are refused and others remain."""
        keyring = upstream.keyring
        for _ in range(len(keyring.keys) or 1):
            key = keyring.choose()
            reply = await self._try(call, url, headers, payload, model, upstream, ex, key)
            if not (isinstance(reply, Reply) and key and reply.status in REVOKING_STATUS):
                return reply
            if not keyring.revoke(key):
                return reply  # every key refused: the client gets the refusal, as with one key
        return reply

    async def _try(
        self,
        call: Call,
        url: str,
        headers: list[tuple[str, str]],
        payload: bytes | AsyncIterable[bytes],
        model: str | None,
        upstream: Upstream,
        ex: Exchange,
        key: UpstreamKey | None,
    ) -> Reply | Failure:
        attempt = _new_attempt(ex, model, upstream)
        if key is not None:
            headers = [*headers, ("authorization", key.authorization)]
            attempt.upstream_key_last4 = key.last4
        t0 = time.perf_counter()
        try:
            response = await self.session.request(
                call.method, url, data=payload or None, headers=headers, timeout=self.timeout
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            return _failed(ex, attempt, t0, exc)
        attempt.http_status = response.status
        reply = Reply(response.status, response.headers, response.raw_headers, attempt, upstream)
        if response.status < 300 and not _readable(response.headers):
            reply.response = response  # a stream: the relay owns it now
            return reply
        try:
            reply.body = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            response.close()
            return _failed(ex, attempt, t0, exc)
        finally:
            response.release()
        attempt.duration_ms = (time.perf_counter() - t0) * 1000
        if response.status >= 400:
            attempt.error_type, attempt.error_message = error_of(response.status, reply.body)
        if reply.retryable:
            reply.retry_after = retry_after_s(response.headers)
        return reply


def _new_attempt(ex: Exchange, model: str | None, upstream: Upstream) -> AttemptEvent:
    attempt = AttemptEvent(
        attempt_no=len(ex.attempts) + 1,
        started_at=datetime.now(UTC),
        duration_ms=0.0,
        model=model,
        upstream=upstream.name,
        provider=upstream.provider,
    )
    ex.attempts.append(attempt)
    return attempt


def _readable(headers: CIMultiDictProxy[str]) -> bool:
    """JSON (and other small text) answers are read whole; SSE and binary are streamed, and
    so are files (``application/jsonl`` is not JSON: a batch's output can be 200 MB)."""
    mime = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return mime in _READ_WHOLE or (mime.startswith("text/") and mime != "text/event-stream")


def _failed(ex: Exchange, attempt: AttemptEvent, t0: float, exc: BaseException) -> Failure:
    attempt.duration_ms = (time.perf_counter() - t0) * 1000
    if may_be_billed(attempt, exc):
        ex.unanswered.append(attempt)
    timed_out = isinstance(exc, TimeoutError)
    attempt.error_type = "timeout" if timed_out else "connection_error"
    attempt.error_message = (
        redact(f"{type(exc).__name__}: {exc}")[:1000] if str(exc) else type(exc).__name__
    )
    return Failure(timed_out, attempt.error_message)


def error_of(status: int, body: bytes) -> tuple[str, str]:
    """(error type, message) of an upstream error body, OpenAI-shaped or not."""
    try:
        error = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        error = None
    if isinstance(error, dict):
        kind = error.get("code") or error.get("type") or f"http_{status}"
        message = error.get("message") or ""
        return str(kind)[:100], redact_keys(str(message))[:1000]
    text = redact_keys(body[:200].decode("utf-8", "replace").strip())
    return f"http_{status}", text or f"HTTP {status}"
