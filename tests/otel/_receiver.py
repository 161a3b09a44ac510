"""A real OTLP/HTTP trace receiver on 127.0.0.1: decodes ``ExportTraceServiceRequest`` protobuf.

``fail_with`` makes it answer an error status (e.g. 503 retryable, 400 not), and
``accept_batches`` lets it accept only that many batches before failing.
"""

from __future__ import annotations

import http.server
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    start_ns: int
    end_ns: int
    status_code: int  # 0 unset, 1 ok, 2 error
    status_message: str
    attributes: dict[str, Any]
    resource: dict[str, Any]


class _Handler(http.server.BaseHTTPRequestHandler):
    receiver: ClassVar[Receiver]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        receiver = self.receiver
        with receiver.lock:
            receiver.posts.append((self.path, dict(self.headers.items())))
            refuse = receiver.fail_with is not None or (
                receiver.accept_batches is not None and receiver.accepted >= receiver.accept_batches
            )
            if not refuse:
                receiver.accepted += 1
                receiver.spans.extend(_decode(body))
        status = (receiver.fail_with or 503) if refuse else 200
        payload = b"" if refuse else ExportTraceServiceResponse().SerializeToString()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def _decode(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    out = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    ReceivedSpan(
                        name=span.name,
                        kind=span.kind,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_code=span.status.code,
                        status_message=span.status.message,
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        resource=resource,
                    )
                )
    return out


class Receiver:
    """Serves until :meth:`stop`; ``url`` is the base (``/v1/traces`` is what exporters post to)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: list[ReceivedSpan] = []
        self.posts: list[tuple[str, dict[str, str]]] = []
        self.fail_with: int | None = None
        self.accept_batches: int | None = None
        self.accepted = 0
        handler = type("Handler", (_Handler,), {"receiver": self})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def requests(self) -> list[ReceivedSpan]:
        """The SERVER spans (one per exported request)."""
        return [s for s in self.spans if s.kind == 2]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
