"""Deterministic trace and span ids, and the W3C ``traceparent`` a client left in metadata.

A request's span ids are derived from its request id, so exporting the same request twice
(at-least-once delivery after a crash) yields the same spans, which a backend can de-duplicate.
Without a client trace, the trace id *is* the request's ULID (128 bits).
"""

from __future__ import annotations

import hashlib
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from collector.ulid import decode

TRACEPARENT_KEY = "traceparent"


def trace_id_of(request_id: str) -> int:
    """The ULID's 128 bits; a hash of the id for anything that is not a ULID."""
    value = (decode(request_id) or 0) & (1 << 128) - 1
    if value == 0:
        digest = hashlib.sha256(b"trace:" + request_id.encode()).digest()
        value = int.from_bytes(digest[:16], "big") or 1
    return value


def span_id_of(request_id: str, attempt_no: int | None = None) -> int:
    """A stable, non-zero 64-bit span id for a request (or one of its attempts)."""
    label = request_id if attempt_no is None else f"{request_id}/{attempt_no}"
    digest = hashlib.sha256(b"span:" + label.encode()).digest()
    return int.from_bytes(digest[:8], "big") or 1


def client_parent(metadata: dict[str, Any]) -> trace.SpanContext | None:
    """The remote span a client's W3C ``traceparent`` (in the request metadata) names."""
    value = metadata.get(TRACEPARENT_KEY)
    if not isinstance(value, str):
        return None
    context = TraceContextTextMapPropagator().extract({TRACEPARENT_KEY: value})
    span_context = trace.get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None


class PresetIds(IdGenerator):
    """Hands the tracer the ids chosen for the next span (the SDK's id-generator hook)."""

    def __init__(self) -> None:
        self.trace_id = 0
        self.span_id = 0

    def set(self, trace_id: int, span_id: int) -> None:
        self.trace_id, self.span_id = trace_id, span_id

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id
