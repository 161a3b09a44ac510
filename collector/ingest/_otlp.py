"""OTLP/HTTP trace exports (JSON or protobuf) read into GenAI spans, then reported calls.

Every span is flattened into a :class:`Span` (ids as lowercase hex, attributes as plain
values, its resource's attributes beside), whichever encoding it came in. A span is a
model call when it carries GenAI semantic-convention attributes (``gen_ai.system`` or
``gen_ai.provider.name``, or ``gen_ai.operation.name``) with a model and an operation that
calls one (chat, text completion, embeddings, content generation); agent and tool spans,
and spans of anything else, are ignored and counted. Attribution comes from the resource's
and span's ``spendscope.user`` / ``user.id`` / ``enduser.id`` and ``spendscope.tag.<name>``
attributes, checked against the key when booked.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from collector.ingest._event import EventError, ReportedCall
from collector.usage import Outcome, Usage, outcome_for_status

# The operations that call a model, and the endpoint each is recorded under.
_OPERATIONS = {
    "chat": "/v1/chat/completions",
    "text_completion": "/v1/completions",
    "embeddings": "/v1/embeddings",
    "generate_content": "/v1/responses",
    "responses": "/v1/responses",
}
_INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
_OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
_CACHED = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.input_tokens.cached",
)
_REASONING = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.output_tokens.reasoning",
    "gen_ai.usage.reasoning_tokens",
)
_USERS = ("spendscope.user", "user.id", "enduser.id")
_TAG_PREFIX = "spendscope.tag."
_TIERS = ("openai.response.service_tier", "gen_ai.openai.response.service_tier")
_STATUS_ERROR = 2


class OtlpError(ValueError):
    """The export as a whole cannot be read (answered 400)."""


@dataclass(frozen=True, slots=True)
class Span:
    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: dict[str, Any]
    resource: dict[str, Any]


def spans_from_json(data: Any) -> Iterator[Span]:
    """The spans of an OTLP JSON ``ExportTraceServiceRequest`` (ids in hex, per the spec)."""
    if not isinstance(data, dict):
        raise OtlpError("the export must be a JSON object with resourceSpans")
    for rs in _list(data, "resourceSpans"):
        resource = _json_attributes((rs.get("resource") or {}).get("attributes"))
        for ss in _list(rs, "scopeSpans"):
            for span in _list(ss, "spans"):
                status = span.get("status") or {}
                yield Span(
                    trace_id=_hex_id(span.get("traceId")),
                    span_id=_hex_id(span.get("spanId")),
                    name=str(span.get("name") or ""),
                    start_ns=_nanos(span.get("startTimeUnixNano")),
                    end_ns=_nanos(span.get("endTimeUnixNano")),
                    status_code=_status_code(status.get("code")),
                    status_message=str(status.get("message") or ""),
                    attributes=_json_attributes(span.get("attributes")),
                    resource=resource,
                )


def spans_from_protobuf(raw: bytes) -> Iterator[Span]:
    """The spans of a binary protobuf ``ExportTraceServiceRequest``."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(raw)
    except DecodeError:
        raise OtlpError("the body is not a protobuf ExportTraceServiceRequest") from None
    for rs in request.resource_spans:
        resource = {kv.key: _pb_value(kv.value) for kv in rs.resource.attributes}
        for ss in rs.scope_spans:
            for span in ss.spans:
                yield Span(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    name=span.name,
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    status_code=span.status.code,
                    status_message=span.status.message,
                    attributes={kv.key: _pb_value(kv.value) for kv in span.attributes},
                    resource=resource,
                )


def is_model_call(span: Span) -> bool:
    """A GenAI span of an operation that calls a model (not an agent or a tool)."""
    a = span.attributes
    genai = any(k in a for k in ("gen_ai.system", "gen_ai.provider.name", "gen_ai.operation.name"))
    operation = a.get("gen_ai.operation.name", "chat")
    model = a.get("gen_ai.response.model") or a.get("gen_ai.request.model")
    return genai and operation in _OPERATIONS and isinstance(model, str) and bool(model)


def reported_call(span: Span) -> ReportedCall:
    """The call a GenAI span describes; EventError when its values cannot be booked."""
    a = span.attributes
    if len(span.trace_id) != 32 or len(span.span_id) != 16:
        raise EventError("the span has no valid traceId/spanId")
    if span.start_ns <= 0:
        raise EventError("the span has no startTimeUnixNano")
    requested = _string(a.get("gen_ai.request.model"))
    model = _string(a.get("gen_ai.response.model")) or requested
    assert model is not None  # noqa: S101 - is_model_call checked it
    status = _count(a, ("http.response.status_code",), "http.response.status_code") or None
    failed = span.status_code == _STATUS_ERROR or "error.type" in a
    outcome = outcome_for_status(status) if status else Outcome.SUCCESS
    if failed and outcome is Outcome.SUCCESS:
        outcome = Outcome.UPSTREAM_ERROR
    attrs = {**span.resource, **a}
    return ReportedCall(
        event_id=f"otlp:{span.trace_id}:{span.span_id}",
        model=model[:200],
        requested_model=requested[:200] if requested else None,
        endpoint=_OPERATIONS[a.get("gen_ai.operation.name", "chat")],
        started_at=datetime.fromtimestamp(span.start_ns / 1e9, UTC),
        duration_ms=max(0, span.end_ns - span.start_ns) / 1e6,
        usage=_usage(a),
        http_status=status or (500 if failed else 200),
        outcome=outcome,
        error_type=_string(a.get("error.type")) or ("span_error" if failed else None),
        error_message=span.status_message[:1000] or None,
        service_tier=next((_string(a[k]) for k in _TIERS if k in a), None),
        upstream_request_id=_string(a.get("gen_ai.response.id")),
        user=next((attrs[k] for k in _USERS if k in attrs), None),
        tags={k[len(_TAG_PREFIX) :]: v for k, v in attrs.items() if k.startswith(_TAG_PREFIX)}
        or None,
        extra_metadata={
            "traceparent": f"00-{span.trace_id}-{span.span_id}-01",
            **({"service.name": attrs["service.name"]} if "service.name" in attrs else {}),
        },
    )


def _usage(a: Mapping[str, Any]) -> Usage | None:
    if not any(k in a for k in (*_INPUT, *_OUTPUT)):
        return None
    usage = Usage(
        prompt_tokens=_count(a, _INPUT, "input_tokens"),
        completion_tokens=_count(a, _OUTPUT, "output_tokens"),
        cached_tokens=_count(a, _CACHED, "cached input tokens"),
        reasoning_tokens=_count(a, _REASONING, "reasoning tokens"),
    )
    try:
        usage.validate()
    except ValueError as exc:
        raise EventError(f"gen_ai.usage: {exc}") from None
    return usage


def _count(a: Mapping[str, Any], names: tuple[str, ...], what: str) -> int:
    for name in names:
        value = a.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise EventError(f"{name} must be a non-negative integer ({what})")
        return int(value)
    return 0


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _list(obj: Any, key: str) -> list[dict[str, Any]]:
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise OtlpError(f"{key} must be an array of objects")
    return value


def _hex_id(value: Any) -> str:
    """OTLP JSON ids are hex; some exporters send protobuf's base64 — both are read."""
    if not isinstance(value, str):
        return ""
    text = value.strip().lower()
    if all(c in "0123456789abcdef" for c in text) and len(text) in (16, 32):
        return text
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return ""


def _nanos(value: Any) -> int:
    """A uint64 in JSON comes as a decimal string (or a number)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def _status_code(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return {"STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}.get(str(value), 0)


def _json_attributes(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    out: dict[str, Any] = {}
    for kv in items:
        if isinstance(kv, dict) and isinstance(kv.get("key"), str):
            out[kv["key"]] = _json_value(kv.get("value"))
    return out


def _json_value(value: Any) -> Any:
    """An OTLP JSON AnyValue: int64 values come as strings."""
    if not isinstance(value, dict):
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        raw = value["intValue"]
        try:
            return int(raw)
        except (TypeError, ValueError):
            return None
    if "doubleValue" in value:
        return value["doubleValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "arrayValue" in value:
        values = (value["arrayValue"] or {}).get("values") or []
        return [_json_value(v) for v in values] if isinstance(values, list) else None
    return None


def _pb_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_pb_value(v) for v in value.array_value.values]
    if kind in ("string_value", "int_value", "double_value", "bool_value"):
        return getattr(value, kind)
    return None
