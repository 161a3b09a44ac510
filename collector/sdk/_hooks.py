"""httpx event hooks: attribution headers out, request id and cost back in.

The hooks run in the caller's thread or task (httpx calls them inline), so they see the
caller's ``attribute()`` scopes and OpenTelemetry span. They never raise into the request:
a failing ``on_call`` callback is logged, not propagated (observability never breaks traffic).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

import httpx

from collector.sdk._context import Attribution, CallRecord, merged, record_call
from collector.sdk._validate import MAX_METADATA_BYTES, encode_metadata, encode_tags

try:  # optional: spans get the request id and cost when opentelemetry-api is installed
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover - exercised only without opentelemetry-api
    _trace = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

USER_HEADER = "x-spendscope-user"
TAGS_HEADER = "x-spendscope-tags"
METADATA_HEADER = "x-spendscope-metadata"
REQUEST_ID_HEADER = "x-spendscope-request-id"
COST_HEADER = "x-spendscope-cost-usd"
TRACEPARENT_KEY = "traceparent"  # metadata key the OTel exporter joins traces by

OnCall = Callable[[CallRecord], None]


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current OpenTelemetry span, if there is a valid one."""
    if _trace is None:
        return None
    context = _trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def _cost(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        log.warning("spendscope: unreadable %s header %r", COST_HEADER, value[:40])
        return None


class Instrumentation:
    """The hooks of one instrumented client: its own attribution and callback."""

    def __init__(
        self, base: Attribution, on_call: OnCall | None = None, propagate_trace: bool = True
    ) -> None:
        self.base = base
        self.on_call = on_call
        self.propagate_trace = propagate_trace

    def request(self, request: httpx.Request) -> None:
        """Add the merged attribution; a header the call set itself (extra_headers) wins."""
        attribution = merged(self.base)
        headers = request.headers
        headers.encoding = "utf-8"  # the gateway reads these headers as UTF-8
        if attribution.user is not None and USER_HEADER not in headers:
            headers[USER_HEADER] = attribution.user
        if attribution.tags and TAGS_HEADER not in headers:
            headers[TAGS_HEADER] = encode_tags(attribution.tags)
        if METADATA_HEADER not in headers:
            metadata = self._with_trace(attribution.metadata)
            if metadata:
                headers[METADATA_HEADER] = encode_metadata(metadata)

    def _with_trace(self, metadata: dict[str, object]) -> dict[str, object]:
        traceparent = current_traceparent() if self.propagate_trace else None
        if traceparent is None or TRACEPARENT_KEY in metadata:
            return metadata
        extended = {**metadata, TRACEPARENT_KEY: traceparent}
        fits = len(encode_metadata(extended)) <= MAX_METADATA_BYTES
        return extended if fits else metadata

    def response(self, response: httpx.Response) -> None:
        """Read the gateway's headers into a CallRecord: last_call(), scopes, span, callback."""
        headers = response.headers
        record = CallRecord(
            request_id=headers.get(REQUEST_ID_HEADER),
            cost_usd=_cost(headers.get(COST_HEADER)),
            status_code=response.status_code,
            method=response.request.method,
            path=response.request.url.path,
            stream=headers.get("content-type", "").startswith("text/event-stream"),
            upstream_request_id=headers.get("x-request-id"),
        )
        record_call(record)
        _annotate_span(record)
        if self.on_call is not None:
            try:
                self.on_call(record)
            except Exception:
                log.exception("spendscope: the on_call callback failed")

    async def arequest(self, request: httpx.Request) -> None:
        self.request(request)

    async def aresponse(self, response: httpx.Response) -> None:
        self.response(response)


def _annotate_span(record: CallRecord) -> None:
    if _trace is None or record.request_id is None:
        return
    span = _trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute("spendscope.request_id", record.request_id)
    if record.cost_usd is not None:
        span.set_attribute("spendscope.cost_usd", format(record.cost_usd, "f"))
