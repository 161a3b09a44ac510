"""One reported call, read strictly from the JSON a client sent (the ingest API's event).

Pure: a decoded JSON value in, a :class:`ReportedCall` out, or :class:`EventError` naming the
first problem (the API answers it for that event only). The ``usage`` object is read by the
same per-endpoint readers as ``spendscope cost --usage``, exactly as OpenAI returned it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.errors import PricingError
from collector.pricing import ENDPOINTS, guess_endpoint, modality_note, usage_from_api
from collector.usage import REPORTED_PATHS, TOOL_CALL_NAMES, Outcome, Usage, outcome_for_status

# Each usage reader's endpoint as a path (what ``requests.endpoint`` holds for /v1 traffic).
PATHS = {reader: path for path, reader in reversed(REPORTED_PATHS.items())}
MAX_ID = 200
MAX_TEXT = 200
MAX_ERROR = 1000
MAX_DURATION_MS = 86_400_000.0  # a reported call lasting over a day is a unit mistake
# An outcome a client may state (``blocked`` is our own policy, never reported).
_OUTCOMES = {o.value: o for o in Outcome if o is not Outcome.BLOCKED}
_KNOWN = frozenset(
    {
        "event_id", "model", "requested_model", "endpoint", "usage", "http_status", "outcome",
        "error", "started_at", "ended_at", "latency_ms", "ttft_ms", "stream", "batch",
        "service_tier", "tool_calls", "upstream_request_id", "user", "tags", "metadata",
    }
)  # fmt: skip


class EventError(ValueError):
    """An event that cannot be booked; the message is the reason given back for it."""


@dataclass(frozen=True, slots=True)
class ReportedCall:
    """A call the gateway never saw, as its client reported it (validated, not priced)."""

    event_id: str
    model: str
    endpoint: str
    started_at: datetime
    duration_ms: float
    usage: Usage | None = None
    usage_note: str | None = None  # why the usage can be priced only as an estimate
    requested_model: str | None = None
    http_status: int | None = 200  # None: the call failed without an answer (a timeout)
    outcome: Outcome = Outcome.SUCCESS
    error_type: str | None = None
    error_message: str | None = None
    ttft_ms: float | None = None
    stream: bool = False
    batch: bool = False
    service_tier: str | None = None
    upstream_request_id: str | None = None
    user: Any = None  # attribution, checked against the key when booked
    tags: Any = None
    metadata: Any = None
    extra_metadata: dict[str, Any] = field(default_factory=dict)


def read_event(data: Any, now: datetime) -> ReportedCall:
    """The event ``data`` (a decoded JSON value); ``now`` bounds timestamps from the future."""
    if not isinstance(data, dict):
        raise EventError("an event must be a JSON object")
    unknown = sorted(set(data) - _KNOWN)
    if unknown:
        raise EventError(f"unknown field {unknown[0]!r}")
    event_id = _text(data, "event_id", MAX_ID, required=True)
    model = _text(data, "model", MAX_TEXT, required=True)
    assert event_id is not None and model is not None  # noqa: S101 - required above
    reader, path = _endpoint(data.get("endpoint"), data.get("usage"))
    started_at, duration_ms = _timing(data, now)
    status: int | None = _status(data.get("http_status"))
    outcome = _outcome(data.get("outcome"), status or 200)
    if data.get("http_status") is None and outcome is not Outcome.SUCCESS:
        status = None
    error_type, error_message = _error(data.get("error"))
    call = ReportedCall(
        event_id=event_id,
        model=model,
        endpoint=path,
        started_at=started_at,
        duration_ms=duration_ms,
        usage=_usage(reader, data.get("usage"), data.get("tool_calls")),
        usage_note=modality_note(reader, data.get("usage")),
        requested_model=_text(data, "requested_model", MAX_TEXT),
        http_status=status,
        outcome=outcome,
        error_type=error_type,
        error_message=error_message,
        ttft_ms=_millis(data, "ttft_ms"),
        stream=_flag(data, "stream"),
        batch=_flag(data, "batch"),
        service_tier=_text(data, "service_tier", 40),
        upstream_request_id=_text(data, "upstream_request_id", MAX_TEXT),
        user=data.get("user"),
        tags=data.get("tags"),
        metadata=data.get("metadata"),
    )
    if call.outcome is not Outcome.SUCCESS and call.error_type is None:
        failed_status = status is not None and status >= 400
        return replace(call, error_type=f"http_{status}" if failed_status else outcome.value)
    return call


def _text(data: dict[str, Any], name: str, limit: int, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise EventError(f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise EventError(f"{name} must be a string of 1-{limit} characters")
    if not value.isprintable():
        raise EventError(f"{name} must not hold control characters")
    return value.strip()


def _endpoint(value: Any, usage: Any) -> tuple[str, str]:
    """The usage reader and the path to record: a reader name, a /v1 path, or the usage's
    shape when the client did not say."""
    if value is None:
        reader = guess_endpoint(usage)
        return reader, PATHS[reader]
    if not isinstance(value, str):
        raise EventError("endpoint must be a string")
    if value in PATHS:
        return value, PATHS[value]
    named = REPORTED_PATHS.get(value)
    if named is None:
        known = ", ".join(ENDPOINTS)
        raise EventError(f"endpoint {value[:80]!r} is not metered (known: {known}, or their path)")
    return named, value


def _usage(reader: str, usage: Any, tools: Any) -> Usage | None:
    counts = _tool_calls(tools)
    if usage is None:
        return Usage(**counts) if counts else None
    try:
        parsed = usage_from_api(reader, usage)
    except PricingError as exc:
        raise EventError(f"usage: {exc}") from None
    return replace(parsed, **counts) if counts else parsed


def _tool_calls(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventError('tool_calls must be an object such as {"web_search": 2}')
    counts: dict[str, Any] = {}
    for name, count in value.items():
        if name not in TOOL_CALL_NAMES:
            raise EventError(
                f"tool_calls: unknown tool {name!r} (known: {', '.join(TOOL_CALL_NAMES)})"
            )
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 10_000:
            raise EventError(f"tool_calls.{name} must be an integer from 0 to 10000")
        counts[TOOL_CALL_NAMES[name]] = count
    return counts


def _timing(data: dict[str, Any], now: datetime) -> tuple[datetime, float]:
    """When the call started and how long it took; a replayed event gives the same values."""
    started, ended = _instant(data, "started_at"), _instant(data, "ended_at")
    latency = _millis(data, "latency_ms")
    if started is None:
        if ended is None:
            raise EventError("started_at (or ended_at) is required")
        started = ended - timedelta(milliseconds=latency or 0.0)
    if latency is None:
        latency = (ended - started).total_seconds() * 1000 if ended is not None else 0.0
    if latency < 0:
        raise EventError("ended_at is before started_at")
    if latency > MAX_DURATION_MS:
        raise EventError("the call lasted over a day: check the latency_ms unit (milliseconds)")
    if started > now + timedelta(minutes=5):
        raise EventError("started_at is in the future")
    return started, latency


def _instant(data: dict[str, Any], name: str) -> datetime | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise EventError(f"{name} must be an ISO-8601 string or Unix seconds")
    try:
        if isinstance(value, str):
            moment = datetime.fromisoformat(value)
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        else:
            moment = datetime.fromtimestamp(value, UTC)
    except (ValueError, OverflowError, OSError):
        raise EventError(f"{name} is not a valid instant: {str(value)[:60]!r}") from None
    moment = moment.astimezone(UTC)
    if moment.year < 2000:
        raise EventError(f"{name} is before the year 2000")
    return moment


def _millis(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e12:
        raise EventError(f"{name} must be a non-negative number of milliseconds")
    return float(value)


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise EventError(f"{name} must be true or false")
    return value


def _status(value: Any) -> int:
    if value is None:
        return 200
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise EventError("http_status must be an integer from 100 to 599")
    return int(value)


def _outcome(value: Any, status: int) -> Outcome:
    if value is None:
        return outcome_for_status(status)
    outcome = _OUTCOMES.get(value) if isinstance(value, str) else None
    if outcome is None:
        raise EventError(f"outcome must be one of {', '.join(_OUTCOMES)}")
    return outcome


def _error(value: Any) -> tuple[str | None, str | None]:
    """``error`` as OpenAI returns it (``{"type", "code", "message"}``) or a plain message."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return "error", value[:MAX_ERROR]
    if not isinstance(value, dict):
        raise EventError('error must be an object ({"type", "message"}) or a string')
    kind = value.get("code") or value.get("type") or "error"
    message = value.get("message")
    if not isinstance(kind, str) or (message is not None and not isinstance(message, str)):
        raise EventError("error.type, error.code and error.message must be strings")
    return kind[:100], message[:MAX_ERROR] if message is not None else None
