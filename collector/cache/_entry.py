"""A cached answer and its bytes in a store: one JSON header line, then the body as sent.

The body is the upstream's JSON, or the upstream's SSE stream (with its usage chunk; a hit
for a client that did not ask for usage has it stripped on replay). The header keeps what
a hit records: the original request's id, the model, upstream and provider that served it
and its exact cost, which is what each hit saves. Entries stored before the provider was kept
read as ``openai`` (the only provider then) with no upstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import orjson

from collector.providers import OPENAI


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    request_id: str
    model: str | None
    cost_usd: Decimal
    stream: bool
    content_type: str
    body: bytes
    upstream: str | None = None
    provider: str = OPENAI


class Capture:
    """A stream's bytes as they pass, kept only while they fit in ``limit`` (then dropped:
    an answer too large to cache is not held in memory to the end)."""

    __slots__ = ("_chunks", "_left", "overflowed")

    def __init__(self, limit: int) -> None:
        self._chunks: list[bytes] = []
        self._left = limit
        self.overflowed = False

    def append(self, chunk: bytes) -> None:
        if self.overflowed:
            return
        self._left -= len(chunk)
        if self._left < 0:
            self.overflowed, self._chunks = True, []
        else:
            self._chunks.append(chunk)

    def body(self) -> bytes | None:
        """The bytes seen, or None once they outgrew the limit."""
        return None if self.overflowed else b"".join(self._chunks)


def encode_answer(answer: CachedAnswer) -> bytes:
    head = {
        "request_id": answer.request_id,
        "model": answer.model,
        "cost_usd": str(answer.cost_usd),
        "stream": answer.stream,
        "content_type": answer.content_type,
        "upstream": answer.upstream,
        "provider": answer.provider,
    }
    return orjson.dumps(head) + b"\n" + answer.body


def decode_answer(data: bytes) -> CachedAnswer | None:
    """The answer, or None for bytes that are not one (a foreign or damaged value: a miss)."""
    line, sep, body = data.partition(b"\n")
    if not sep:
        return None
    try:
        head = orjson.loads(line)
        return CachedAnswer(
            request_id=str(head["request_id"]),
            model=head["model"] if isinstance(head["model"], str) else None,
            cost_usd=Decimal(head["cost_usd"]),
            stream=head["stream"] is True,
            content_type=str(head["content_type"]),
            body=body,
            upstream=_text(head.get("upstream")),
            provider=_text(head.get("provider")) or OPENAI,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, InvalidOperation):
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
