"""Export recorded requests to an OpenTelemetry backend as OTLP/HTTP spans.

Each request becomes a span named and attributed per the GenAI semantic conventions, with one
child span per upstream attempt; a request whose metadata carries the client's W3C
``traceparent`` (the SDK middleware adds it) joins the client's trace. Delivery is at least
once, in id order, from a cursor file that advances only after the endpoint accepted a batch.
"""

from collector.otel._cursor import Cursor, CursorError
from collector.otel._export import (
    ExportFailed,
    ExportReport,
    OtlpSink,
    PrintSink,
    SpanSink,
    export_pending,
    parse_headers,
    pending_ids,
    span_json,
    traces_url,
)
from collector.otel._ids import span_id_of, trace_id_of
from collector.otel._spans import (
    SpanBuilder,
    attempt_attributes,
    operation_name,
    request_attributes,
)

__all__ = [
    "Cursor",
    "CursorError",
    "ExportFailed",
    "ExportReport",
    "OtlpSink",
    "PrintSink",
    "SpanBuilder",
    "SpanSink",
    "attempt_attributes",
    "export_pending",
    "operation_name",
    "parse_headers",
    "pending_ids",
    "request_attributes",
    "span_id_of",
    "span_json",
    "trace_id_of",
    "traces_url",
]
