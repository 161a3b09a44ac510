"""How a batch of events crosses the pipe to the writer process, and how its answer comes back.

A frame is a 4-byte big-endian length and a pickle. Events travel as plain tuples in field
order: a dataclass pickled as itself cost ~14 µs an event here, and its tz-aware datetimes and
Decimals ~4 µs more inside a tuple, so a UTC datetime goes as integer microseconds since the
epoch and a Decimal as its exact string (both restored exactly, tested). Anything else (a
naive or non-UTC datetime) goes as itself. Both ends are this same module of the same tree:
the writer process is started from the gateway's own interpreter.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any

from collector.recorder.events import AttemptEvent, UsageEvent

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_REQUEST_FIELDS = tuple(f.name for f in fields(UsageEvent) if f.name != "attempts")
_ATTEMPT_FIELDS = tuple(f.name for f in fields(AttemptEvent))
_request_values = attrgetter(*_REQUEST_FIELDS)
_attempt_values = attrgetter(*_ATTEMPT_FIELDS)
# positions of the values that need converting (datetimes, Decimals)
_REQUEST_TIME = _REQUEST_FIELDS.index("started_at")
_REQUEST_DECIMALS = (_REQUEST_FIELDS.index("audio_seconds"), _REQUEST_FIELDS.index("cost_usd"))
_ATTEMPT_TIME = _ATTEMPT_FIELDS.index("started_at")
_ATTEMPT_DECIMALS = (_ATTEMPT_FIELDS.index("cost_usd"),)
_LEN = 4
MAX_FRAME = 1 << 31  # a batch larger than 2 GiB is a bug, not a batch


class WireError(Exception):
    """The other end went away or sent something that is not a frame."""


def _time_out(value: Any) -> Any:
    if type(value) is datetime and value.tzinfo is UTC:
        return (value - _EPOCH) // _US
    return value


def _time_in(value: Any) -> Any:
    # (seconds, microseconds): ~2x faster than timedelta(microseconds=value)
    return _EPOCH + timedelta(0, *divmod(value, 1_000_000)) if type(value) is int else value


def _money_out(value: Any) -> Any:
    return str(value) if type(value) is Decimal else value


def _money_in(value: Any) -> Any:
    return Decimal(value) if type(value) is str else value


def _pack(values: tuple[Any, ...], at: int, decimals: tuple[int, ...]) -> list[Any]:
    row = list(values)
    row[at] = _time_out(row[at])
    for i in decimals:
        row[i] = _money_out(row[i])
    return row


def _unpack(values: list[Any], at: int, decimals: tuple[int, ...]) -> list[Any]:
    row = list(values)
    row[at] = _time_in(row[at])
    for i in decimals:
        row[i] = _money_in(row[i])
    return row


Packed = tuple[list[Any], list[list[Any]]]


def pack_event(e: UsageEvent) -> Packed:
    """An event as plain values, ready to pickle (the recorder packs each one as it arrives)."""
    return (
        _pack(_request_values(e), _REQUEST_TIME, _REQUEST_DECIMALS),
        [_pack(_attempt_values(a), _ATTEMPT_TIME, _ATTEMPT_DECIMALS) for a in e.attempts],
    )


def unpack_event(packed: Packed) -> UsageEvent:
    """The event :func:`pack_event` was given, equal field by field."""
    values, attempts = packed
    event = UsageEvent(*_unpack(values, _REQUEST_TIME, _REQUEST_DECIMALS))
    event.attempts = [AttemptEvent(*_unpack(a, _ATTEMPT_TIME, _ATTEMPT_DECIMALS)) for a in attempts]
    return event


def encode_packed(rows: Sequence[Packed]) -> bytes:
    return pickle.dumps(list(rows), pickle.HIGHEST_PROTOCOL)


def encode_events(events: Sequence[UsageEvent]) -> bytes:
    """One pickle of the batch as plain values (see the module's doc for why)."""
    return encode_packed([pack_event(e) for e in events])


def decode_events(payload: bytes) -> list[UsageEvent]:
    """The events :func:`encode_events` (or :func:`encode_packed`) was given."""
    return [unpack_event(packed) for packed in pickle.loads(payload)]


def send(fd: int, payload: bytes) -> None:
    """Write one frame (blocking; the GIL is released while the pipe is full)."""
    view = memoryview(len(payload).to_bytes(_LEN, "big") + payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def receive(fd: int) -> bytes:
    """Read one frame; WireError on end of file or a length no frame can have."""
    size = int.from_bytes(_read_exactly(fd, _LEN), "big")
    if size >= MAX_FRAME:
        raise WireError(f"frame of {size} bytes announced")
    return _read_exactly(fd, size)


def _read_exactly(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise WireError("the other end closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
