"""Export recorded requests as OTLP spans, at least once, in id order, from a durable cursor.

Each batch: read the rows, build spans, send them; only when the exporter reports success is
the cursor saved past them. A failed export raises ``ExportFailed`` and leaves the cursor
where it was, so the next run sends the same requests again (with the same span ids).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy import Engine

from collector.otel._cursor import Cursor
from collector.otel._spans import SpanBuilder
from collector.requestlog import id_floor, request_ids_after, requests_by_id

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


class ExportFailed(Exception):
    """The OTLP endpoint did not accept a batch (unreachable, refused, or an error status)."""


def traces_url(endpoint: str) -> str:
    """``http://host:4318`` → ``http://host:4318/v1/traces``; a URL with a path is kept."""
    parts = urlsplit(endpoint.strip())
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"endpoint {endpoint!r} has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint {endpoint!r} must be an http:// or https:// URL with a host")
    path = parts.path.rstrip("/") or "/v1/traces"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def parse_headers(items: Sequence[str]) -> dict[str, str]:
    """``name=value`` items, each possibly comma-separated, into a dict; ValueError if malformed."""
    headers: dict[str, str] = {}
    for item in items:
        for pair in item.split(","):
            if not pair.strip():
                continue
            name, sep, value = pair.partition("=")
            name, value = name.strip(), value.strip()
            if not sep or not _TOKEN.match(name):
                raise ValueError(f"header {pair.strip()[:80]!r} must look like name=value")
            headers[name.lower()] = value
    return headers


class SpanSink(Protocol):
    def export(self, spans: Sequence[ReadableSpan]) -> None: ...


class _LastError(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _quiet_exporter_logs() -> Iterator[_LastError]:
    """The exporter logs its failures; keep them off stderr and use them in our one line."""
    logger = logging.getLogger("opentelemetry.exporter")
    handler = _LastError()
    saved = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = saved


def span_json(span: ReadableSpan) -> dict[str, object]:
    """A compact, JSON-safe view of one span (``otel export --dry-run`` prints these)."""
    context, parent = span.get_span_context(), span.parent
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{context.trace_id:032x}" if context else None,
        "span_id": f"{context.span_id:016x}" if context else None,
        "parent_span_id": f"{parent.span_id:016x}" if parent else None,
        "start_time_unix_nano": span.start_time,
        "end_time_unix_nano": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
    }


class PrintSink:
    """Writes each span as one JSON line instead of sending it."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    def export(self, spans: Sequence[ReadableSpan]) -> None:
        for span in spans:
            self.write(json.dumps(span_json(span), default=str, sort_keys=True))


_ERRNO = re.compile(r"(\[Errno -?\d+\][^'\")]*)")
_STATUS = re.compile(r"code: (\d+), reason: (.*)")
_GAVE_UP = "due to timeout, max retries or shutdown"


def _reason(messages: list[str]) -> str:
    """The exporter's log lines, boiled down to one cause.

    The newest network error or HTTP status wins over a later line without one: the last try of
    a retry loop whose deadline ran out fails on its zero timeout, which names no cause.
    """
    details = [" ".join(m.split()) for m in messages if _GAVE_UP not in m]
    if not details:
        return "timed out" if messages else "export failed"
    for detail in reversed(details):
        if errno := _ERRNO.search(detail):
            return f"connection failed: {errno[1].strip()}"
        if status := _STATUS.search(detail):
            return f"HTTP {status[1]} {status[2]}"[:200]
    return details[-1][:200]


class _RecordingSession(requests.Session):
    """Remembers the last network error, which the exporter itself does not report."""

    last_error: Exception | None = None

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            return super().request(*args, **kwargs)
        except Exception as exc:
            self.last_error = exc
            raise


class OtlpSink:
    """The official OTLP/HTTP (protobuf) span exporter; failures become ``ExportFailed``."""

    def __init__(self, url: str, headers: dict[str, str], timeout_s: float) -> None:
        self.url = url
        self._session = _RecordingSession()
        self._exporter = OTLPSpanExporter(
            endpoint=url, headers=headers, timeout=timeout_s, session=self._session
        )

    def export(self, spans: Sequence[ReadableSpan]) -> None:
        self._session.last_error = None
        with _quiet_exporter_logs() as errors:
            result = self._exporter.export(spans)
        if result is not SpanExportResult.SUCCESS:
            messages = errors.messages
            if self._session.last_error is not None:
                messages = [*messages, str(self._session.last_error)]
            raise ExportFailed(f"could not export to {self.url}: {_reason(messages)}")

    def close(self) -> None:
        self._exporter.shutdown()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class ExportReport:
    requests: int
    spans: int


def pending_ids(engine: Engine, cursor: Cursor, since: datetime | None) -> list[str]:
    """Ids not exported yet, ascending (only those started at or after ``since``)."""
    floor = id_floor(since) if since is not None else ""
    return [i for i in request_ids_after(engine, cursor.after) if i >= floor and not cursor.done(i)]


def export_pending(
    engine: Engine,
    sink: SpanSink,
    builder: SpanBuilder,
    cursor_path: Path,
    *,
    now: datetime,
    since: datetime | None = None,
    settle_s: float = 180.0,
    batch_size: int = 500,
    save: bool = True,
    endpoint: str | None = None,
) -> ExportReport:
    """Send every pending request, batch by batch, saving the cursor after each success.

    ``save=False`` (a dry run) sends without moving the cursor.
    """
    cursor = Cursor.load(cursor_path)
    cursor.endpoint = endpoint or cursor.endpoint
    horizon = id_floor(now - timedelta(seconds=settle_s))
    ids = pending_ids(engine, cursor, since)
    sent_requests = sent_spans = 0
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        spans = builder.spans(requests_by_id(engine, chunk))
        try:
            sink.export(spans)
        except ExportFailed as exc:  # the cursor stays where it was
            left = len(ids) - start
            raise ExportFailed(f"{exc} ({left} requests not exported; run again)") from None
        sent_requests, sent_spans = sent_requests + len(chunk), sent_spans + len(spans)
        if save:
            last = start + batch_size >= len(ids)
            # after a full pass every id below the horizon is done; mid-pass, only up to chunk
            cursor.advance(chunk, horizon if last else min(horizon, chunk[-1]))
            cursor.save(cursor_path)
    if save and not ids and horizon > cursor.after:
        cursor.advance([], horizon)
        cursor.save(cursor_path)
    return ExportReport(sent_requests, sent_spans)
