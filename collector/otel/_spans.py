"""Recorded requests as OpenTelemetry spans, named and attributed per the GenAI conventions.

One SERVER span per request (the gateway handling the app's call), one CLIENT child span per
upstream attempt. Attribute names follow the OpenTelemetry GenAI semantic conventions
(``gen_ai.*``, ``error.type``, ``server.address``); spendscope's own values are ``spendscope.*``,
money as an exact decimal string. Times come from the rows, not from the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from collector.otel._ids import PresetIds, client_parent, span_id_of, trace_id_of
from collector.requestlog import AttemptRow, RequestWithAttempts
from collector.usage import ANSWERED_OUTCOMES, Outcome

Attributes = dict[str, AttributeValue]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Well-known gen_ai.operation.name values; other endpoints use their path ("images.generations").
_OPERATIONS = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "chat",
    "/v1/completions": "text_completion",
    "/v1/embeddings": "embeddings",
}


def operation_name(endpoint: str) -> str:
    known = _OPERATIONS.get(endpoint.rstrip("/"))
    return known or endpoint.removeprefix("/v1/").strip("/").replace("/", ".") or "unknown"


def _nanos(moment: datetime, plus_ms: float = 0.0) -> int:
    delta = moment.astimezone(UTC) - _EPOCH + timedelta(milliseconds=plus_ms)
    return (delta // timedelta(microseconds=1)) * 1000


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _server(upstream: str | None, upstreams: Mapping[str, str]) -> Attributes:
    url = upstreams.get(upstream or "")
    if not url:
        return {}
    parts = urlsplit(url)
    if not parts.hostname:
        return {}
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {"server.address": parts.hostname, "server.port": port}


# Our providers by their GenAI semantic-convention names (``gen_ai.provider.name``)
_SEMCONV_PROVIDERS = {"anthropic": "anthropic", "google": "gcp.gemini"}


def _common(operation: str, provider: str) -> Attributes:
    name = _SEMCONV_PROVIDERS.get(provider, "openai")
    return {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": name,
        "gen_ai.system": name,  # the deprecated name, for older backends
    }


def request_attributes(row: RequestWithAttempts, upstreams: Mapping[str, str]) -> Attributes:
    """The request span's attributes (None values are left out)."""
    values: dict[str, AttributeValue | None] = {
        **_common(operation_name(row.endpoint), row.provider),
        "gen_ai.request.model": row.model_requested,
        "gen_ai.response.model": row.model_served,
        "gen_ai.request.stream": row.stream,
        "gen_ai.usage.input_tokens": row.prompt_tokens,
        "gen_ai.usage.output_tokens": row.completion_tokens,
        "gen_ai.usage.cache_read.input_tokens": row.cached_tokens,
        "gen_ai.usage.reasoning.output_tokens": row.reasoning_tokens,
        "gen_ai.response.time_to_first_chunk": None if row.ttft_ms is None else row.ttft_ms / 1000,
        "http.response.status_code": row.http_status,
        "url.path": row.endpoint,
        "error.type": _error_type(row.outcome, row.error_type, row.http_status),
        # a cache hit names the upstream of the answer it replayed, but sent nothing there
        **({} if row.outcome == Outcome.CACHE_HIT.value else _server(row.upstream, upstreams)),
        "spendscope.request_id": row.id,
        "spendscope.project": row.project,
        "spendscope.api_key_prefix": row.key_prefix,
        "spendscope.end_user": row.end_user,
        "spendscope.outcome": row.outcome,
        "spendscope.cost_usd": _money(row.cost_usd),
        "spendscope.cost_source": row.cost_source,
        "spendscope.attempt_count": len(row.attempts),
        "spendscope.upstream": row.upstream,
        "spendscope.upstream_request_id": row.upstream_request_id,
        **{f"spendscope.tags.{k}": str(v) for k, v in sorted(row.tags.items())},
    }
    return {k: v for k, v in values.items() if v is not None}


def attempt_attributes(
    row: RequestWithAttempts, attempt: AttemptRow, upstreams: Mapping[str, str]
) -> Attributes:
    failed = _attempt_failed(attempt)
    values: dict[str, AttributeValue | None] = {
        **_common(operation_name(row.endpoint), attempt.provider),
        "gen_ai.request.model": attempt.model,
        "gen_ai.usage.input_tokens": attempt.prompt_tokens,
        "gen_ai.usage.output_tokens": attempt.completion_tokens,
        "http.response.status_code": attempt.http_status,
        "error.type": (attempt.error_type or str(attempt.http_status)) if failed else None,
        **_server(attempt.upstream, upstreams),
        "spendscope.request_id": row.id,
        "spendscope.attempt_no": attempt.attempt_no,
        "spendscope.cost_usd": _money(attempt.cost_usd),
        "spendscope.upstream": attempt.upstream,
    }
    return {k: v for k, v in values.items() if v is not None}


def _error_type(outcome: str, error_type: str | None, status: int | None) -> str | None:
    if outcome in ANSWERED_OUTCOMES:
        return None
    return error_type or (str(status) if status else outcome)


def _attempt_failed(attempt: AttemptRow) -> bool:
    return attempt.error_type is not None or (attempt.http_status or 0) >= 400


def _status(failed: bool, kind: str | None, message: str | None) -> Status:
    if not failed:
        return Status(StatusCode.UNSET)
    text = ": ".join(part for part in (kind, message) if part)
    return Status(StatusCode.ERROR, text[:500] or None)


class _Collect(SpanProcessor):
    def __init__(self) -> None:
        self.ended: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


def _package_version() -> str:
    try:
        return version("spendscope")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


class SpanBuilder:
    """Builds spans through the SDK's own tracer, with ids and times taken from the rows."""

    def __init__(self, upstreams: Mapping[str, str], service_name: str = "spendscope") -> None:
        self.upstreams = dict(upstreams)
        self._ids = PresetIds()
        self._collect = _Collect()
        resource = Resource.create({"service.name": service_name})
        provider = TracerProvider(sampler=ALWAYS_ON, resource=resource, id_generator=self._ids)
        provider.add_span_processor(self._collect)
        self._tracer = provider.get_tracer("spendscope.otel", _package_version())

    def spans(self, rows: Sequence[RequestWithAttempts]) -> list[ReadableSpan]:
        """Every row's request span and attempt spans, parents first."""
        self._collect.ended = []
        expected = 0
        for row in rows:
            self._request(row)
            expected += 1 + len(row.attempts)
        if len(self._collect.ended) != expected:  # e.g. OTEL_SDK_DISABLED=true
            raise RuntimeError("the OpenTelemetry SDK produced no spans (is it disabled?)")
        return self._collect.ended

    def _request(self, row: RequestWithAttempts) -> None:
        parent = client_parent(row.metadata)
        context = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent else None
        self._ids.set(trace_id_of(row.id), span_id_of(row.id))
        model = row.model_requested or row.model_served
        name = f"{operation_name(row.endpoint)} {model}" if model else row.endpoint
        span = self._tracer.start_span(
            name,
            context=context,
            kind=SpanKind.SERVER,
            start_time=_nanos(row.started_at),
            attributes=request_attributes(row, self.upstreams),
        )
        failed = row.outcome not in ANSWERED_OUTCOMES
        span.set_status(_status(failed, row.error_type, row.error_message))
        inside = trace.set_span_in_context(span)
        for attempt in row.attempts:
            self._attempt(row, attempt, inside, span.get_span_context().trace_id)
        span.end(end_time=_nanos(row.started_at, row.duration_ms))

    def _attempt(
        self, row: RequestWithAttempts, attempt: AttemptRow, inside: Context, trace_id: int
    ) -> None:
        self._ids.set(trace_id, span_id_of(row.id, attempt.attempt_no))
        name = f"{operation_name(row.endpoint)} {attempt.model or ''}".strip()
        span = self._tracer.start_span(
            name,
            context=inside,
            kind=SpanKind.CLIENT,
            start_time=_nanos(attempt.started_at),
            attributes=attempt_attributes(row, attempt, self.upstreams),
        )
        failed = _attempt_failed(attempt)
        span.set_status(_status(failed, attempt.error_type, attempt.error_message))
        span.end(end_time=_nanos(attempt.started_at, attempt.duration_ms))
