"""Calls that never passed through the gateway, booked from what their client reports.

Two ways in, one booking: the ingest API's events (``read_body``/``book_events``) and
OpenTelemetry GenAI spans (``spans_from_json``/``spans_from_protobuf``, ``is_model_call``,
``reported_call``) become :class:`ReportedCall` values, priced by the catalog into the
``UsageEvent`` the recorder takes, under a request id fixed by (project, client id).
"""

from collector.ingest._batch import (
    NDJSON_TYPES,
    BatchError,
    BatchResult,
    book_calls,
    book_events,
    read_body,
)
from collector.ingest._book import book, price_reported, reported_request_id
from collector.ingest._event import PATHS, EventError, ReportedCall, read_event
from collector.ingest._otlp import (
    OtlpError,
    Span,
    is_model_call,
    reported_call,
    spans_from_json,
    spans_from_protobuf,
)

__all__ = [
    "NDJSON_TYPES",
    "PATHS",
    "BatchError",
    "BatchResult",
    "EventError",
    "OtlpError",
    "ReportedCall",
    "Span",
    "book",
    "book_calls",
    "book_events",
    "is_model_call",
    "price_reported",
    "read_body",
    "read_event",
    "reported_call",
    "reported_request_id",
    "spans_from_json",
    "spans_from_protobuf",
]
