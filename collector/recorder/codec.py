"""The one form an event takes between the request path and its row: a line of JSON.

The journal, the spool and the pipe to the writer process all carry these lines. A line is a
JSON array of the request's values in field order, its last item the attempts (each an
array). UTC datetimes travel as integer microseconds since the epoch (others as ISO text),
Decimals as their exact text, so both come back equal. A file of lines starts with a header
line naming the fields, so a file written by an older version (other fields) still decodes.

No SQLAlchemy here: the writer process imports this.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from collector.recorder._values import (
    ATTEMPT_FIELDS,
    REQUEST_FIELDS,
    attempt_values,
    request_values,
)
from collector.recorder.events import AttemptEvent, UsageEvent

FORMAT = "spendscope-events/2"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_TIMES = ("started_at",)
_DECIMALS = ("cost_usd", "audio_seconds", "saved_usd")


class CodecError(ValueError):
    """A line or file that is not an encoded event."""


def _spots(names: Sequence[str], wanted: Sequence[str]) -> tuple[int, ...]:
    return tuple(names.index(n) for n in wanted if n in names)


_R_TIME, _R_MONEY = _spots(REQUEST_FIELDS, _TIMES), _spots(REQUEST_FIELDS, _DECIMALS)
_A_TIME, _A_MONEY = _spots(ATTEMPT_FIELDS, _TIMES), _spots(ATTEMPT_FIELDS, _DECIMALS)


def header(**extra: Any) -> bytes:
    """A file's first line: the format and the field order of the lines after it."""
    head = {"format": FORMAT, "request": REQUEST_FIELDS, "attempt": ATTEMPT_FIELDS, **extra}
    return orjson.dumps(head, option=orjson.OPT_APPEND_NEWLINE)


def _out(values: tuple[Any, ...], times: tuple[int, ...], money: tuple[int, ...]) -> list[Any]:
    row = list(values)
    for i in times:
        moment = row[i]
        if type(moment) is datetime and moment.tzinfo is UTC:
            row[i] = (moment - _EPOCH) // _US
        elif isinstance(moment, datetime):  # another zone, or naive (the writer refuses it)
            row[i] = moment.isoformat()
    for i in money:
        if row[i] is not None:
            row[i] = str(row[i])
    return row


def encode(event: UsageEvent) -> bytes:
    """One line (ending in a newline); raises ``TypeError``/``orjson.JSONEncodeError`` for
    values JSON cannot carry (``storable.make_storable`` repairs them beforehand)."""
    row = _out(request_values(event), _R_TIME, _R_MONEY)
    row.append([_out(attempt_values(a), _A_TIME, _A_MONEY) for a in event.attempts])
    return orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)


def _in(row: list[Any], times: tuple[int, ...], money: tuple[int, ...]) -> list[Any]:
    for i in times:
        value = row[i]
        if type(value) is int:
            row[i] = _EPOCH + timedelta(0, *divmod(value, 1_000_000))
        elif type(value) is str:
            row[i] = datetime.fromisoformat(value)
    for i in money:
        if type(row[i]) is str:
            row[i] = Decimal(row[i])
    return row


def decode(line: bytes) -> UsageEvent:
    """The event :func:`encode` was given (fields in this version's order)."""
    try:
        row = orjson.loads(line)
        attempts = row.pop()
        event = UsageEvent(*_in(row, _R_TIME, _R_MONEY))
        event.attempts = [AttemptEvent(*_in(a, _A_TIME, _A_MONEY)) for a in attempts]
    except (orjson.JSONDecodeError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise CodecError(f"not an encoded event: {exc}") from exc
    return event


def decode_batch(payload: bytes) -> list[UsageEvent]:
    """Lines joined as one payload (the writer process's frames) back into events."""
    return [decode(line) for line in payload.splitlines() if line]


class Reader:
    """Decodes a file's lines by the field names of its header (any version's)."""

    def __init__(self, head: bytes) -> None:
        try:
            meta = orjson.loads(head)
            request, attempt = list(meta["request"]), list(meta["attempt"])
        except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
            raise CodecError(f"not an event file header: {exc}") from exc
        self.meta: dict[str, Any] = meta
        self.same_fields = tuple(request) == REQUEST_FIELDS and tuple(attempt) == ATTEMPT_FIELDS
        self._request, self._attempt = request, attempt

    def decode(self, line: bytes) -> UsageEvent:
        if self.same_fields:
            return decode(line)
        try:
            row = orjson.loads(line)
            attempts = row.pop()
            event = UsageEvent(**_named(self._request, row, REQUEST_FIELDS, _TIMES, _DECIMALS))
            event.attempts = [
                AttemptEvent(**_named(self._attempt, a, ATTEMPT_FIELDS, _TIMES, _DECIMALS))
                for a in attempts
            ]
        except (orjson.JSONDecodeError, TypeError, ValueError, IndexError) as exc:
            raise CodecError(f"not an encoded event: {exc}") from exc
        return event


def _named(
    names: list[str],
    row: list[Any],
    known: tuple[str, ...],
    times: Iterable[str],
    money: Iterable[str],
) -> dict[str, Any]:
    values = {n: v for n, v in zip(names, row, strict=True) if n in known}
    for n in times:
        if type(values.get(n)) is int:
            values[n] = _EPOCH + timedelta(0, *divmod(values[n], 1_000_000))
        elif type(values.get(n)) is str:
            values[n] = datetime.fromisoformat(values[n])
    for n in money:
        if type(values.get(n)) is str:
            values[n] = Decimal(values[n])
    return values


def read_lines(data: bytes) -> tuple[dict[str, Any], list[UsageEvent], list[bytes], int]:
    """A whole file: (its header, its events, their lines, how many lines were unreadable).

    Unreadable lines (a torn last line after a crash, say) are counted, not fatal.
    """
    head, _, body = data.partition(b"\n")
    reader = Reader(head)
    events: list[UsageEvent] = []
    lines: list[bytes] = []
    bad = 0
    for line in body.split(b"\n"):
        if not line:
            continue
        try:
            events.append(reader.decode(line))
        except CodecError:
            bad += 1
            continue
        lines.append(line + b"\n" if reader.same_fields else encode(events[-1]))
    return reader.meta, events, lines, bad
