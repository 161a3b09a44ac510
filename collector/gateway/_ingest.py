"""``POST /api/ingest`` and ``POST /v1/traces``: calls reported by clients, booked like ours.

Both authenticate with a virtual key (as ``/v1``), read a bounded body, book what they can
(``collector.ingest``) and hand each row to the recorder; the answer says, per event or
span, what was booked and why anything was not. The ``x-spendscope-*`` headers of the call
attribute every event in it, as on ``/v1``; an event's own ``user``/``tags``/``metadata``
add to them within what the key allows. With ``fsync`` durability the answer waits (bounded)
until the rows are on disk, so an acknowledged event is never lost.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import Request, Response

from collector.budgets import Subject
from collector.errors import InvalidRequest, PayloadTooLarge
from collector.gateway._body import BodyReader, ClientGone
from collector.gateway._keyauth import authenticate
from collector.gateway._runtime import Runtime
from collector.ingest import (
    BatchError,
    BatchResult,
    OtlpError,
    Span,
    book_calls,
    book_events,
    is_model_call,
    read_body,
    reported_call,
    spans_from_json,
    spans_from_protobuf,
)
from collector.keys import Attribution, KeyPrincipal, parse_attribution
from collector.recorder import UsageEvent

log = logging.getLogger(__name__)
DURABLE_WAIT_S = 5.0
PROTOBUF = "application/x-protobuf"
_CHUNK = 100  # events booked between yields to the loop, so /v1 traffic is not held up


class UnsupportedMediaType(InvalidRequest):
    status = 415


async def ingest(request: Request) -> Response:
    """Book a batch of reported calls (JSON array or NDJSON); 200, or 207 if any failed."""
    runtime, principal, base = await _caller(request)
    raw = await _body(request, runtime)
    try:
        items = read_body(raw, request.headers.get("content-type", ""), _max_events(runtime))
    except BatchError as exc:
        raise InvalidRequest(str(exc)) from None
    now = datetime.now(UTC)
    result = BatchResult()
    for start in range(0, len(items), _CHUNK):
        part = items[start : start + _CHUNK]
        book_events(part, principal, base, runtime.overrides, now, start=start, into=result)
        if start + _CHUNK < len(items):
            await asyncio.sleep(0)
    await _record(runtime, principal, result)
    status = 207 if result.rejected else 200
    return Response(orjson.dumps(result.answer()), status, media_type="application/json")


async def otlp_traces(request: Request) -> Response:
    """OTLP/HTTP trace export: GenAI model-call spans booked, other spans ignored (counted)."""
    runtime, principal, base = await _caller(request)
    raw = await _body(request, runtime)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        spans = _spans(raw, media)
    except OtlpError as exc:
        raise InvalidRequest(str(exc)) from None
    calls = [(i, span) for i, span in enumerate(spans) if is_model_call(span)]
    ignored = len(spans) - len(calls)
    result = book_calls(calls, _span_call, principal, base, runtime.overrides)
    await _record(runtime, principal, result)
    return _otlp_answer(media, result, ignored)


def _span_call(item: Any) -> Any:
    assert isinstance(item, Span)  # noqa: S101 - type narrowing: only spans are passed
    return reported_call(item)


def _spans(raw: bytes, media: str) -> list[Span]:
    if media == PROTOBUF:
        return list(spans_from_protobuf(raw))
    if media == "application/json":
        try:
            return list(spans_from_json(orjson.loads(raw)))
        except orjson.JSONDecodeError as exc:
            raise OtlpError(f"the body is not valid JSON: {exc}"[:300]) from None
    raise UnsupportedMediaType(
        f"OTLP/HTTP takes {PROTOBUF} or application/json, not {media or 'no content type'!r}",
        param="content-type",
    )


def _otlp_answer(media: str, result: BatchResult, ignored: int) -> Response:
    """The OTLP ``ExportTraceServiceResponse`` (partial success when a span was refused),
    in the request's encoding; the counts also in ``x-spendscope-*`` headers."""
    booked, rejected = len(result.booked), len(result.rejected)
    message = "; ".join(f"span {i}: {reason}" for i, _, reason in result.rejected[:20])
    headers = {
        "x-spendscope-booked": str(booked),
        "x-spendscope-rejected": str(rejected),
        "x-spendscope-ignored": str(ignored),
    }
    if media == PROTOBUF:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTracePartialSuccess,
            ExportTraceServiceResponse,
        )

        answer = ExportTraceServiceResponse()
        if rejected:
            answer.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=rejected, error_message=message[:2000])
            )
        return Response(answer.SerializeToString(), 200, headers, media_type=PROTOBUF)
    body: dict[str, Any] = {
        "spendscope": {"booked": booked, "rejected": rejected, "ignored": ignored},
    }
    if rejected:
        body["partialSuccess"] = {"rejectedSpans": str(rejected), "errorMessage": message[:2000]}
    return Response(orjson.dumps(body), 200, headers, media_type="application/json")


async def _caller(request: Request) -> tuple[Runtime, KeyPrincipal, Attribution]:
    runtime: Runtime = request.app.state.runtime
    principal = await authenticate(runtime, request.headers.get("authorization"))
    return runtime, principal, parse_attribution(request.headers, None, principal)


def _max_events(runtime: Runtime) -> int:
    return runtime.settings.ingest_max_events


async def _body(request: Request, runtime: Runtime) -> bytes:
    """The body within ``ingest_max_body_bytes`` (also once gunzipped), 413 above."""
    limit = runtime.settings.ingest_max_body_bytes
    declared = request.headers.get("content-length", "")
    reader = BodyReader(runtime.bodies, limit)
    try:
        raw = await reader.read(request.receive, int(declared) if declared.isdigit() else None)
    except ClientGone:
        raise InvalidRequest("the client left before sending its body") from None
    finally:
        reader.release()
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "gzip":
        return _gunzip(raw, limit)
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType(f"content-encoding {encoding!r} is not supported (use gzip)")
    return raw


def _gunzip(raw: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise InvalidRequest("the body is not valid gzip") from None
    if len(out) > limit:
        raise PayloadTooLarge(
            f"Request body too large once decompressed: the limit is {limit} bytes."
        )
    return out


async def _record(runtime: Runtime, principal: KeyPrincipal, result: BatchResult) -> None:
    """Hand every booked row to the recorder and its cost to the hard budgets covering it;
    with fsync durability, wait for the disk."""
    await _book_spend(runtime, principal, result)
    events = [event for _, _, event in result.booked]
    try:
        durable = runtime.recorder.submit_many(events)  # one journal write for the call
        waits = [durable] if durable is not None else []
    except Exception:  # one event the recorder refused: the others are taken one by one
        log.exception("ingest: could not record the call's events together")
        waits = _submit_each(runtime, events)
    if waits:
        try:
            await asyncio.wait_for(asyncio.gather(*waits), DURABLE_WAIT_S)
        except TimeoutError:
            log.error("ingest: journal fsync took over %.0f s; answering", DURABLE_WAIT_S)


def _submit_each(runtime: Runtime, events: list[UsageEvent]) -> list[asyncio.Future[None]]:
    waits = []
    for event in events:
        try:
            durable = runtime.recorder.submit(event)
        except Exception:
            log.exception("ingest: could not record request %s", event.id)
            continue
        if durable is not None:
            waits.append(durable)
    return waits


async def _book_spend(runtime: Runtime, principal: KeyPrincipal, result: BatchResult) -> None:
    """Reported spend counts against hard budgets as relayed spend does (``Admitter.book``)."""
    admitter = runtime.admitter
    if admitter is None or not result.booked:
        return
    project, prefix = principal.project, principal.key_prefix
    spends = [
        (Subject(project, prefix, e.end_user, e.model_served or e.model_requested, e.tags),
         e.cost_usd, e.started_at, e.id)
        for _, _, e in result.booked
        if e.cost_usd
    ]  # fmt: skip
    await admitter.book(spends, datetime.now(UTC))
