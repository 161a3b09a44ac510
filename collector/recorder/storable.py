"""Make an event storable when it is taken in, so the database never refuses its row.

A client controls the body's ``user`` and ``model``, the attribution headers and the
metadata; an upstream controls the served model, error texts and token counts. Any of them
could carry a NUL (PostgreSQL refuses it in text), a lone surrogate (not UTF-8), a string
longer than its column, a number outside the column's range, or JSON nested deeper than an
encoder follows. Such values are repaired here — cut, replaced, clamped — and every repair
is noted in the row's metadata under :data:`CHANGED_KEY`, so nothing changes silently and
the money of the request is always kept.

Pure: values in, values out. The column sizes come from the schema (``column_limits``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from operator import attrgetter
from typing import Any

import orjson

from collector.recorder.events import AttemptEvent, UsageEvent

CHANGED_KEY = "_spendscope_changed"  # metadata key listing what was repaired, and why
ORIGINAL_KEY = "_spendscope_original"  # metadata key: an excerpt of metadata that was replaced
MAX_DEPTH = 32  # JSON nesting kept (orjson stops at 254; PostgreSQL's jsonb at 6,400)
MAX_METADATA_BYTES = 16_384  # encoded metadata kept per row
MAX_TAGS = 64
EXCERPT = 1_000  # characters of replaced metadata kept as text
INT_MAX = 2**31 - 1  # the INTEGER columns (PostgreSQL int4)
JSON_INT = 2**63  # integers JSON encoders take
AUDIO_SECONDS_MAX = Decimal("999999999.999")  # NUMERIC(12, 3)
MONEY_MAX = Decimal(10) ** 10  # NUMERIC(20, 10)
TAG_TEXT = 400  # a tag rollup's "key=value" column

_INT_FIELDS = (
    "prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens",
    "audio_prompt_tokens", "audio_completion_tokens", "image_tokens", "characters", "images",
    "cache_write_tokens",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Limits:
    """Characters each text field may hold (its column's length)."""

    request: tuple[tuple[str, int], ...]
    attempt: tuple[tuple[str, int], ...]


@lru_cache(maxsize=1)
def column_limits() -> Limits:
    """The lengths of the ``requests`` / ``attempts`` text columns the events fill."""
    from collector.db.base import table_of  # the schema; not in the writer process
    from collector.db.models import Attempt, Request

    def lengths(table: Any, names: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
        found = []
        for name in names:
            length = getattr(table.c[name].type, "length", None)
            if length:
                found.append((name, int(length)))
        return tuple(found)

    requests, attempts = table_of(Request), table_of(Attempt)
    request_names = tuple(n for n in _slots(UsageEvent) if n in requests.c)
    attempt_names = tuple(n for n in _slots(AttemptEvent) if n in attempts.c)
    return Limits(lengths(requests, request_names), lengths(attempts, attempt_names))


def _slots(cls: type[Any]) -> tuple[str, ...]:
    return tuple(cls.__dataclass_fields__)


class Fit:
    """A quick test that an event's values fit their columns as they are (the common case).

    It checks what its encoded line cannot show: text lengths and integer ranges. What the
    line shows is checked on the line: a NUL is encoded as ``\\u0000``, and values JSON
    cannot carry (lone surrogates, JSON nested past the encoder's limit, integers past 64
    bits) fail the encoding itself.
    """

    def __init__(self, limits: Limits) -> None:
        self._request = limits.request
        self._attempt = limits.attempt
        self._ints = attrgetter(*_INT_FIELDS)
        self._attempt_ints = attrgetter("prompt_tokens", "completion_tokens")

    def __call__(self, event: UsageEvent, line: bytes) -> bool:
        if b"\\u0000" in line or len(line) > MAX_METADATA_BYTES:
            return False
        try:  # a value of another type (an int where text goes, say) fails a test: repair
            if not (_texts_fit(self._request, event) and _ints_fit(self._ints(event))):
                return False
            status = event.http_status
            if status is not None and (type(status) is not int or not 0 <= status <= 999):
                return False
            if not (_storable_money(event.cost_usd) and _storable_money(event.saved_usd)):
                return False
            if event.audio_seconds > AUDIO_SECONDS_MAX:
                return False
            for attempt in event.attempts:
                if not (
                    _texts_fit(self._attempt, attempt)
                    and _ints_fit(self._attempt_ints(attempt))
                    and _storable_money(attempt.cost_usd)
                ):
                    return False
        except TypeError:
            return False
        return _tags_fit(event.tags) and _flat_text(event.metadata)


def _texts_fit(limits: tuple[tuple[str, int], ...], obj: Any) -> bool:
    for name, limit in limits:
        value = getattr(obj, name)
        if value is not None and len(value) > limit:
            return False
    return True


def _ints_fit(numbers: tuple[Any, ...]) -> bool:
    """Each an ``int`` (not a bool or a float) within the INTEGER columns' range."""
    for number in numbers:  # noqa: SIM110 - a plain loop: all() of a generator costs twice this
        if type(number) is not int or not 0 <= number <= INT_MAX:
            return False
    return True


def _flat_text(metadata: dict[str, Any]) -> bool:
    """Metadata of text values only (the usual trace ids): nothing in it needs a repair
    that its line would not show. Anything richer takes the full walk."""
    if len(metadata) == 0:  # most rows; an empty list or string stores as nothing, as {} does
        return True
    return all(type(v) is str for v in metadata.values())


def _tags_fit(tags: dict[str, str]) -> bool:
    size = len(tags)
    if size == 0:
        return True
    if size > MAX_TAGS:
        return False
    return all(
        type(k) is str and type(v) is str and len(k) + len(v) < TAG_TEXT for k, v in tags.items()
    )


@lru_cache(maxsize=1)
def fits() -> Fit:
    """The quick test for this schema's columns."""
    return Fit(column_limits())


def make_storable(event: UsageEvent, limits: Limits | None = None) -> list[str]:
    """Repair ``event`` in place; returns what was changed (also noted in its metadata)."""
    limits = limits or column_limits()
    notes: list[str] = []
    _texts(event, limits.request, notes, "")
    _ints(event, notes, "")
    _money(event, notes)
    if event.audio_seconds > AUDIO_SECONDS_MAX or event.audio_seconds < 0:
        notes.append(f"audio_seconds: {event.audio_seconds} out of range, clamped")
        event.audio_seconds = min(max(event.audio_seconds, Decimal(0)), AUDIO_SECONDS_MAX)
    for attempt in event.attempts:
        where = f"attempts[{attempt.attempt_no}]."
        _texts(attempt, limits.attempt, notes, where)
        for name in ("prompt_tokens", "completion_tokens"):
            _clamp(attempt, name, notes, where)
    if event.tags:
        event.tags = _tags(event.tags, notes)
    if event.metadata or notes:
        event.metadata = _metadata(event.metadata, notes)
    return notes


def _money(event: UsageEvent, notes: list[str]) -> None:
    """A cost no column holds (not finite, or ≥ 10^10 USD) is no cost: unpriced, noted."""
    if not _storable_money(event.cost_usd):
        notes.append(f"cost_usd: {str(event.cost_usd)[:40]} cannot be stored; unpriced")
        event.cost_usd, event.cost_source = None, "unpriced"
    if not _storable_money(event.saved_usd):
        notes.append(f"saved_usd: {str(event.saved_usd)[:40]} cannot be stored; dropped")
        event.saved_usd = None
    for attempt in event.attempts:
        if not _storable_money(attempt.cost_usd):
            notes.append(f"attempts[{attempt.attempt_no}].cost_usd: cannot be stored; dropped")
            attempt.cost_usd = None


def _storable_money(cost: Decimal | None) -> bool:
    return cost is None or (
        isinstance(cost, Decimal) and cost.is_finite() and abs(cost) < MONEY_MAX
    )


def _texts(obj: Any, limits: tuple[tuple[str, int], ...], notes: list[str], where: str) -> None:
    for name, limit in limits:
        value = getattr(obj, name)
        if value is None:
            continue
        if type(value) is not str:
            value = str(value)
            notes.append(f"{where}{name}: not text, stored as text")
        if len(value) <= limit and value.isascii() and "\x00" not in value:
            setattr(obj, name, value)
            continue
        setattr(obj, name, clean_text(value, limit, f"{where}{name}", notes))


def clean_text(value: str, limit: int, name: str, notes: list[str]) -> str:
    """``value`` without NULs or lone surrogates, cut to ``limit`` characters (noted)."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
        notes.append(f"{name}: NUL characters replaced by U+FFFD")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
            notes.append(f"{name}: invalid UTF-16 surrogates replaced by '?'")
    if len(value) > limit:
        notes.append(f"{name}: cut to {limit} of its {len(value)} characters")
        value = value[:limit]
    return value


def _ints(event: UsageEvent, notes: list[str], where: str) -> None:
    for name in _INT_FIELDS:
        _clamp(event, name, notes, where)
    status = event.http_status
    if status is not None and (type(status) is not int or not 0 <= status <= 999):
        notes.append(f"http_status: {status!r} is no HTTP status; dropped")
        event.http_status = None


def _clamp(obj: Any, name: str, notes: list[str], where: str) -> None:
    value = getattr(obj, name)
    if type(value) is int and 0 <= value <= INT_MAX:
        return
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        number = 0
    fixed = min(max(number, 0), INT_MAX)
    notes.append(f"{where}{name}: {str(value)[:40]} out of range, stored as {fixed}")
    setattr(obj, name, fixed)


def _tags(tags: dict[str, str], notes: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in list(tags.items())[:MAX_TAGS]:
        k = clean_text(str(key), TAG_TEXT // 2, f"tag key {str(key)[:40]!r}", notes)
        v = clean_text(str(value), TAG_TEXT - len(k) - 1, f"tag {k[:40]!r}", notes)
        out[k] = v
    if len(tags) > MAX_TAGS:
        notes.append(f"tags: {len(tags) - MAX_TAGS} tags past the first {MAX_TAGS} dropped")
    return out


def _metadata(metadata: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Metadata cleaned; replaced by a text excerpt when too deep or too large; notes added."""
    own: list[str] = []
    try:
        cleaned = _json(metadata, 0, own)
        size = len(orjson.dumps(cleaned))
    except _TooDeep:
        cleaned, size = None, 0
        own.append(f"metadata: nested deeper than {MAX_DEPTH} levels; replaced by an excerpt")
    if cleaned is not None and size > MAX_METADATA_BYTES:
        own.append(f"metadata: {size} bytes, over {MAX_METADATA_BYTES}; replaced by an excerpt")
        cleaned = None
    if not isinstance(cleaned, dict):
        cleaned = {ORIGINAL_KEY: _excerpt(metadata)}
    notes.extend(own)
    if notes:
        cleaned[CHANGED_KEY] = list(notes)
    return cleaned


class _TooDeep(Exception):
    pass


def _json(value: Any, depth: int, notes: list[str]) -> Any:
    """A JSON value every store takes: finite numbers, clean strings, bounded depth."""
    if depth > MAX_DEPTH:
        raise _TooDeep
    kind = type(value)
    if kind is str:
        return value if value.isascii() and "\x00" not in value else _text(value, notes)
    if kind is bool or value is None:
        return value
    if kind is int:
        if -JSON_INT < value < JSON_INT:
            return value
        notes.append("metadata: an integer beyond 64 bits stored as text")
        return str(value)
    if kind is float:
        if math.isfinite(value):
            return value
        notes.append(f"metadata: {value} stored as text")
        return str(value)
    if kind is dict:
        return {_text(str(k), notes): _json(v, depth + 1, notes) for k, v in value.items()}
    if kind in (list, tuple):
        return [_json(v, depth + 1, notes) for v in value]
    notes.append(f"metadata: a {kind.__name__} stored as text")
    return _text(str(value), notes)


def _text(value: str, notes: list[str]) -> str:
    return clean_text(value, MAX_METADATA_BYTES, "metadata text", notes)


def _excerpt(metadata: Any) -> str:
    """Some of what was sent, as clean text (a recursion-proof repr)."""
    try:
        text = orjson.dumps(metadata).decode()
    except (TypeError, orjson.JSONEncodeError):
        text = _shallow_repr(metadata)
    return clean_text(text[:EXCERPT], EXCERPT, "metadata excerpt", [])


def _shallow_repr(value: Any) -> str:
    """The start of a structure's text without walking it deeper than needed."""
    parts: list[str] = []
    size, node = 0, value
    while isinstance(node, dict | list) and size < EXCERPT:
        if isinstance(node, dict):
            if not node:
                parts.append("{}")
                break
            key, node = next(iter(node.items()))
            parts.append(f"{{{str(key)[:100]!r}: ")
        else:
            if not node:
                parts.append("[]")
                break
            parts.append("[")
            node = node[0]
        size += len(parts[-1])
    else:
        parts.append(repr(node)[:200])
    return "".join(parts)
