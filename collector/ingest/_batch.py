"""An ingest call's body read into events, and each event into a booked row or a reason.

A body is a JSON array of events or NDJSON (one event a line). A body that cannot be read
as either is refused whole (:class:`BatchError`, a 400); a line that is not JSON, or an
event that cannot be booked, is answered for itself (index, reason) and the rest is booked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from collector.errors import GatewayError
from collector.ingest._book import book
from collector.ingest._event import EventError, ReportedCall, read_event
from collector.keys import Attribution, KeyPrincipal, reported_attribution
from collector.pricing import PriceOverride
from collector.recorder import UsageEvent

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/ndjson")


class BatchError(ValueError):
    """The body as a whole is not a batch of events (answered 400 with this message)."""


@dataclass(frozen=True, slots=True)
class _BadLine:
    reason: str


@dataclass(slots=True)
class BatchResult:
    """What became of each event of a call, in the order they came."""

    booked: list[tuple[int, ReportedCall, UsageEvent]] = field(default_factory=list)
    rejected: list[tuple[int, str | None, str]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # client ids booked so far

    def answer(self) -> dict[str, Any]:
        """The JSON answer: counts, each booked event's request id and cost, each reason."""
        return {
            "accepted": len(self.booked),
            "rejected": len(self.rejected),
            "events": [
                {
                    "index": i,
                    "event_id": call.event_id,
                    "request_id": event.id,
                    "cost_usd": None if event.cost_usd is None else format(event.cost_usd, "f"),
                    "cost_source": event.cost_source,
                }
                for i, call, event in self.booked
            ],
            "errors": [
                {"index": i, "event_id": event_id, "reason": reason}
                for i, event_id, reason in self.rejected
            ],
        }


def read_body(raw: bytes, content_type: str, max_events: int) -> list[Any]:
    """The events of a body, a line that is not JSON kept as its reason (``_BadLine``)."""
    media = content_type.split(";")[0].strip().lower()
    stripped = raw.lstrip()
    if not stripped:
        raise BatchError("the body is empty: send a JSON array of events or NDJSON")
    if media in NDJSON_TYPES or (media != "application/json" and stripped[:1] == b"{"):
        items = _ndjson(raw)
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BatchError(f"the body is not valid JSON: {exc}"[:300]) from None
        if not isinstance(data, list):
            raise BatchError("the body must be a JSON array of events (or NDJSON, one a line)")
        items = data
    if len(items) > max_events:
        raise BatchError(f"at most {max_events} events per call, got {len(items)}")
    return items


def _ndjson(raw: bytes) -> list[Any]:
    items: list[Any] = []
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            items.append(_BadLine(f"line is not valid JSON: {exc}"[:300]))
    return items


def book_events(
    items: Sequence[Any],
    principal: KeyPrincipal,
    base: Attribution,
    overrides: Sequence[PriceOverride],
    now: datetime,
    *,
    start: int = 0,
    into: BatchResult | None = None,
) -> BatchResult:
    """Read, attribute and price every event of a call (events of the ingest API);
    ``start`` is the first one's index, ``into`` a result to add to (a call in parts)."""

    def read(item: Any) -> ReportedCall:
        if isinstance(item, _BadLine):
            raise EventError(item.reason)
        return read_event(item, now)

    return book_calls(enumerate(items, start), read, principal, base, overrides, into)


def book_calls(
    items: Iterable[tuple[int, Any]],
    read: Callable[[Any], ReportedCall],
    principal: KeyPrincipal,
    base: Attribution,
    overrides: Sequence[PriceOverride],
    into: BatchResult | None = None,
) -> BatchResult:
    """Each ``(index, item)`` read by ``read`` and booked; a failure is that item's reason.

    An id given twice in one call is booked once (the later one is answered as a repeat).
    """
    out = into if into is not None else BatchResult()
    seen = out.seen
    for index, item in items:
        event_id = _event_id(item)
        try:
            call = read(item)
            if call.event_id in seen:
                raise EventError(f"event_id {call.event_id!r} repeats an earlier event")
            attribution = reported_attribution(base, call.user, call.tags, call.metadata, principal)
            event = book(call, principal, attribution, overrides)
        except EventError as exc:
            out.rejected.append((index, event_id, str(exc)))
            continue
        except GatewayError as exc:  # attribution the key does not allow
            out.rejected.append((index, event_id, exc.message))
            continue
        seen.add(call.event_id)
        out.booked.append((index, call, event))
    return out


def _event_id(item: Any) -> str | None:
    value = item.get("event_id") if isinstance(item, dict) else None
    return value[:200] if isinstance(value, str) else None
