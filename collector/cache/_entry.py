"""A cached answer and its bytes in a store: one JSON header line, then the body as sent.

The body is the upstream's JSON, or the upstream's SSE stream (with its usage chunk; a hit
for a client that did not ask for usage has it stripped on replay). The header keeps what
a hit records: the original request's id, the model that served it and its exact cost,
which is what each hit saves.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import orjson


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    request_id: str
    model: str | None
    cost_usd: Decimal
    stream: bool
    content_type: str
    body: bytes


def encode_answer(answer: CachedAnswer) -> bytes:
    head = {
        "request_id": answer.request_id,
        "model": answer.model,
        "cost_usd": str(answer.cost_usd),
        "stream": answer.stream,
        "content_type": answer.content_type,
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
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, InvalidOperation):
        return None
