"""What the client asked for: the endpoint, the parsed body and the few fields the gateway reads.

Bodies stay plain dicts parsed by orjson (no pydantic on the hot path). Only what the gateway
relies on is checked — ``model``, ``stream``, ``stream_options``, ``user`` and each endpoint's
required inputs — with OpenAI's own wording, so the SDK raises its usual ``BadRequestError``.
Everything else is the upstream's business and passes through untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from collector.errors import InvalidRequest


class Kind(StrEnum):
    """The endpoint families the gateway knows how to meter."""

    CHAT = "chat"
    RESPONSES = "responses"
    EMBEDDINGS = "embeddings"
    COMPLETIONS = "completions"
    TRANSCRIPTION = "transcription"
    SPEECH = "speech"
    IMAGES = "images"
    MODERATIONS = "moderations"
    CONTAINERS = "containers"  # code interpreter containers: one session fee each
    REALTIME = "realtime"  # the WebSocket, metered per response (see ``_realtime_meter``)
    OTHER = "other"


ENDPOINTS: dict[tuple[str, str], Kind] = {
    ("POST", "/v1/chat/completions"): Kind.CHAT,
    ("POST", "/v1/responses"): Kind.RESPONSES,
    ("POST", "/v1/embeddings"): Kind.EMBEDDINGS,
    ("POST", "/v1/completions"): Kind.COMPLETIONS,
    ("POST", "/v1/audio/transcriptions"): Kind.TRANSCRIPTION,
    ("POST", "/v1/audio/translations"): Kind.TRANSCRIPTION,
    ("POST", "/v1/audio/speech"): Kind.SPEECH,
    ("POST", "/v1/images/generations"): Kind.IMAGES,
    ("POST", "/v1/images/edits"): Kind.IMAGES,
    ("POST", "/v1/images/variations"): Kind.IMAGES,
    ("POST", "/v1/moderations"): Kind.MODERATIONS,
    ("POST", "/v1/containers"): Kind.CONTAINERS,
}
MULTIPART_KINDS = frozenset({Kind.TRANSCRIPTION})
# Multipart image uploads (edits, variations): OpenAI's documented default model, when the
# form names none, is dall-e-2 (variations support no other).
MULTIPART_IMAGES = frozenset({"/v1/images/edits", "/v1/images/variations"})
DEFAULT_IMAGE_MODEL = "dall-e-2"
# Streams whose usage arrives only when asked for (``stream_options.include_usage``).
USAGE_OPT_IN = frozenset({Kind.CHAT, Kind.COMPLETIONS})

TRACEPARENT = "traceparent"  # the W3C header, kept in metadata under the same key
_TRACEPARENT = re.compile(
    r"(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}"
)

BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please contact "
    "us through our help center at help.openai.com.)"
)

_ARRAY = (list,)
_STRING = (str,)
_STRING_OR_ARRAY = (str, list)
# Per endpoint: required fields and the JSON types they accept.
_REQUIRED: dict[Kind, tuple[tuple[str, tuple[type, ...]], ...]] = {
    Kind.CHAT: (("messages", _ARRAY),),
    Kind.EMBEDDINGS: (("input", _STRING_OR_ARRAY),),
    Kind.SPEECH: (("input", _STRING), ("voice", (str, dict))),
    Kind.IMAGES: (("prompt", _STRING),),
    Kind.MODERATIONS: (("input", _STRING_OR_ARRAY),),
    Kind.CONTAINERS: (("name", _STRING),),
}
_MODEL_REQUIRED = frozenset(
    {Kind.CHAT, Kind.RESPONSES, Kind.EMBEDDINGS, Kind.COMPLETIONS, Kind.SPEECH}
)


@dataclass(slots=True)
class Call:
    """One client request as the gateway sees it; ``raw`` is forwarded unless rewritten."""

    method: str
    path: str
    query: bytes
    kind: Kind
    raw: bytes
    content_type: str
    body: dict[str, Any] | None = None
    model: str | None = None
    stream: bool = False
    wants_usage: bool = False
    user: str | None = None
    _rewritten: dict[str | None, bytes] = field(default_factory=dict)

    @property
    def force_usage(self) -> bool:
        """True when we must ask upstream for stream usage the client did not ask for."""
        return self.stream and not self.wants_usage and self.kind in USAGE_OPT_IN

    def payload_for(self, model: str | None) -> bytes:
        """The body to send upstream for ``model``: the client's bytes unless they must change."""
        if self.body is None or (model == self.model and not self.force_usage):
            return self.raw
        cached = self._rewritten.get(model)
        if cached is None:
            body = dict(self.body)
            if model is not None:
                body["model"] = model
            if self.stream and self.kind in USAGE_OPT_IN:
                options = dict(body.get("stream_options") or {})
                options["include_usage"] = True
                body["stream_options"] = options
            cached = self._rewritten[model] = orjson.dumps(body)
        return cached


def parse_call(method: str, path: str, query: bytes, raw: bytes, content_type: str) -> Call:
    """Classify and validate a request; raises :class:`InvalidRequest` with OpenAI's wording."""
    kind = ENDPOINTS.get((method, path), Kind.OTHER)
    call = Call(method, path, query, kind, raw, content_type)
    if kind in MULTIPART_KINDS:
        _read_form(call)
    elif path in MULTIPART_IMAGES and content_type.startswith("multipart/form-data"):
        call.model = form_field(raw, content_type, "model") or DEFAULT_IMAGE_MODEL
    elif kind is not Kind.OTHER:
        _read_json(call, _parse_object(raw))
    elif raw and content_type.startswith("application/json"):
        _read_lenient(call, raw)
    return call


def _parse_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest(BAD_JSON) from None
    if not isinstance(body, dict):
        raise InvalidRequest(BAD_JSON)
    return body


def _read_json(call: Call, body: dict[str, Any]) -> None:
    call.body = body
    model = body.get("model")
    if model is None:
        if call.kind in _MODEL_REQUIRED:
            raise InvalidRequest("you must provide a model parameter")
    elif not isinstance(model, str):
        raise _invalid_type("model", "a string", model)
    elif not model:
        raise InvalidRequest("you must provide a model parameter", param="model")
    call.model = model
    for name, types in _REQUIRED.get(call.kind, ()):
        _require(body, name, types)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _invalid_type("stream", "a boolean", stream)
    call.stream = bool(stream)
    call.wants_usage = _wants_usage(body.get("stream_options"))
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _invalid_type("user", "a string", user)
    call.user = user or None


def _wants_usage(options: Any) -> bool:
    if options is None:
        return False
    if not isinstance(options, dict):
        raise _invalid_type("stream_options", "an object", options)
    include = options.get("include_usage")
    if include is not None and not isinstance(include, bool):
        raise _invalid_type("stream_options.include_usage", "a boolean", include)
    return include is True


def _require(body: dict[str, Any], name: str, types: tuple[type, ...]) -> None:
    if name not in body or body[name] is None:
        raise InvalidRequest(
            f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter"
        )
    value = body[name]
    if not isinstance(value, types) or isinstance(value, bool):
        expected = " or ".join(_TYPE_NAMES[t] for t in types)
        raise _invalid_type(name, expected, value)
    if name == "messages":
        bad = [item for item in body[name] if not isinstance(item, dict)]
        if bad:
            raise _invalid_type("messages[]", "an object", bad[0])


_TYPE_NAMES = {str: "a string", list: "an array", dict: "an object", bool: "a boolean"}


def _invalid_type(name: str, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{name}': expected {expected}, but got {_json_type(value)} instead.",
        param=name,
        code="invalid_type",
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    return _TYPE_NAMES.get(type(value), "a value")


def _read_lenient(call: Call, raw: bytes) -> None:
    """Other endpoints pass through as they are; we only note the model when there is one."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return
    if isinstance(body, dict):
        model = body.get("model")
        call.model = model if isinstance(model, str) and model else None
        call.stream = body.get("stream") is True


def _read_form(call: Call) -> None:
    """Read ``model`` and ``stream`` from a multipart form without parsing the file parts."""
    model = form_field(call.raw, call.content_type, "model")
    if not model:
        raise InvalidRequest("you must provide a model parameter", param="model")
    call.model = model
    call.stream = (form_field(call.raw, call.content_type, "stream") or "").lower() == "true"


def form_field(raw: bytes, content_type: str, name: str) -> str | None:
    """The value of a small text field of a ``multipart/form-data`` body, if present."""
    marker = "boundary="
    at = content_type.find(marker)
    if at < 0:
        return None
    boundary = content_type[at + len(marker) :].split(";")[0].strip().strip('"').encode()
    wanted = re.compile(rb'(?:^|[;\s])name="' + re.escape(name.encode()) + rb'"', re.IGNORECASE)
    for part in raw.split(b"--" + boundary):
        head, sep, value = part.partition(b"\r\n\r\n")
        if sep and wanted.search(head):
            return value.removesuffix(b"\r\n").decode("utf-8", "replace")
    return None


def traceparent(value: bytes) -> str | None:
    """A W3C ``traceparent`` (version-traceid-spanid-flags, lowercase hex, 55 chars) or None.

    Version ``ff`` and all-zero ids are invalid by the spec; a bad header is ignored, never
    refused: tracing must not break traffic.
    """
    if len(value) != 55:
        return None
    text = value.decode("latin-1")
    return text if _TRACEPARENT.fullmatch(text) else None
