"""The filter bar's state ↔ the URL query string ↔ the query layer's ``Filters`` (pure).

The URL is the only place filters live, so a copied link reproduces the view. Keys:
``range`` (a preset, or ``custom`` with ``from``/``to`` as inclusive ISO dates, UTC),
and repeatable ``project``, ``key``, ``user``, ``model``, ``tag``. Every value is validated
here, once, against what the query layer and the database accept (ids within INTEGER,
dates within ``MIN_DAY``..``MAX_DAY``, tags as the gateway stores them, bounded printable
text). A bad value is dropped and named in ``FilterState.problems``, which the page shows:
a hand-edited link still opens, and no callback ever sees a value it cannot query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args
from urllib.parse import parse_qs, urlencode

from collector.analytics import Bucket, Filters
from collector.errors import InvalidRequest
from collector.keys import MAX_LIMIT, check_tag

RangePreset = Literal["24h", "7d", "30d", "90d", "mtd", "last_month", "custom"]
RANGE_PRESETS: tuple[RangePreset, ...] = get_args(RangePreset)
RANGE_LABELS: dict[RangePreset, str] = {
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "mtd": "This month",
    "last_month": "Last month",
    "custom": "Custom dates",
}
DEFAULT_RANGE: RangePreset = "7d"
FILTER_KEYS = ("range", "from", "to", "project", "key", "user", "model", "tag")
_DAYS = {"24h": 1, "7d": 7, "30d": 30, "90d": 90}
_HOURLY_UP_TO = timedelta(days=3)
MIN_DAY, MAX_DAY = date(1970, 1, 1), date(2999, 12, 31)
MAX_ID = MAX_LIMIT  # ids are INTEGER columns
MAX_TEXT = 256

Query = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True, slots=True)
class FilterState:
    """What the filter bar shows; ``start``/``end`` (inclusive days) only for ``custom``."""

    range: RangePreset = DEFAULT_RANGE
    start: date | None = None
    end: date | None = None
    projects: tuple[int, ...] = ()
    keys: tuple[int, ...] = ()
    users: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default=(), compare=False)


def query_of(search: str | None) -> dict[str, list[str]]:
    """``?a=1&a=2`` → ``{"a": ["1", "2"]}`` (a leading ``?`` is optional)."""
    return parse_qs((search or "").lstrip("?"), keep_blank_values=False)


def search_of(query: Query) -> str:
    """The search string of a parsed query (``layout(**query)`` gets one from Dash pages)."""
    pairs = [(k, v) for k, vs in query.items() for v in ([vs] if isinstance(vs, str) else vs)]
    return _search(pairs)


def _values(query: Query, key: str) -> list[str]:
    raw = query.get(key, ())
    items = [raw] if isinstance(raw, str) else list(raw)
    return [v.strip() for v in items if v and v.strip()]


def _first(query: Query, key: str) -> str | None:
    values = _values(query, key)
    return values[0] if values else None


class _Problems(list[str]):
    """What was dropped from the URL, in words a person can act on."""

    def drop(self, name: str, value: str, why: str) -> None:
        shown = value if len(value) <= 40 else f"{value[:40]}…"
        self.append(f"{name} {shown!r} ignored: {why}")


def _id(value: str) -> int | None:
    number = int(value) if value.isascii() and value.isdigit() and len(value) <= 10 else 0
    return number if 1 <= number <= MAX_ID else None


def _ints(values: list[str], name: str, problems: _Problems) -> tuple[int, ...]:
    good = []
    for value in values:
        number = _id(value)
        if number is None:
            problems.drop(name, value, f"not an id (1 to {MAX_ID})")
        else:
            good.append(number)
    return tuple(dict.fromkeys(good))


def _printable(value: str) -> bool:
    return len(value) <= MAX_TEXT and value.isprintable()


def _strings(values: list[str], name: str, problems: _Problems) -> tuple[str, ...]:
    for bad in (v for v in values if not _printable(v)):
        problems.drop(name, bad, f"control characters or over {MAX_TEXT} characters")
    return tuple(dict.fromkeys(v for v in values if _printable(v)))


def _tags(values: list[str], problems: _Problems) -> tuple[str, ...]:
    good = []
    for value in values:
        key, sep, val = value.partition("=")
        try:
            if not sep:
                raise InvalidRequest("expected key=value")
            check_tag(key, val, "tag")
        except InvalidRequest as exc:
            problems.drop("tag", value, exc.message)
            continue
        good.append(value)
    return tuple(dict.fromkeys(good))


def _date(value: str | None, name: str, problems: _Problems) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        problems.drop(name, value, "not a date (YYYY-MM-DD)")
        return None
    if not MIN_DAY <= day <= MAX_DAY:
        problems.drop(name, value, f"outside {MIN_DAY} to {MAX_DAY}")
        return None
    return day


def _range(query: Query, problems: _Problems) -> tuple[RangePreset, date | None, date | None]:
    start = _date(_first(query, "from"), "from", problems)
    end = _date(_first(query, "to"), "to", problems)
    preset = _first(query, "range")
    if preset == "custom" or (preset is None and start and end):
        if start and end and start <= end:
            return "custom", start, end
        problems.append("custom range ignored: it needs valid from and to dates, from <= to")
        return DEFAULT_RANGE, None, None
    if preset in RANGE_PRESETS:
        return preset, None, None  # type: ignore[return-value]
    if preset is not None:
        problems.drop("range", preset, f"expected one of {', '.join(RANGE_PRESETS)}")
    return DEFAULT_RANGE, None, None


def parse_query(query: Query) -> FilterState:
    """The filter state of a query mapping (as parse_qs or Dash pages give it)."""
    problems = _Problems()
    preset, start, end = _range(query, problems)
    return FilterState(
        range=preset,
        start=start,
        end=end,
        projects=_ints(_values(query, "project"), "project", problems),
        keys=_ints(_values(query, "key"), "key", problems),
        users=_strings(_values(query, "user"), "user", problems),
        models=_strings(_values(query, "model"), "model", problems),
        tags=_tags(_values(query, "tag"), problems),
        problems=tuple(problems),
    )


def parse_search(search: str | None) -> FilterState:
    return parse_query(query_of(search))


def state_pairs(state: FilterState) -> list[tuple[str, str]]:
    """The query pairs of ``state``; the default range is left out to keep links short."""
    pairs: list[tuple[str, str]] = []
    if state.range == "custom" and state.start and state.end:
        pairs += [("range", "custom"), ("from", state.start.isoformat())]
        pairs.append(("to", state.end.isoformat()))
    elif state.range not in (DEFAULT_RANGE, "custom"):
        pairs.append(("range", state.range))
    pairs += [("project", str(p)) for p in state.projects]
    pairs += [("key", str(k)) for k in state.keys]
    pairs += [("user", u) for u in state.users]
    pairs += [("model", m) for m in state.models]
    pairs += [("tag", t) for t in state.tags]
    return pairs


def _search(pairs: list[tuple[str, str]]) -> str:
    return f"?{urlencode(pairs)}" if pairs else ""


def merge_search(search: str | None, state: FilterState) -> str:
    """``search`` with its filter keys replaced by ``state``; page parameters are kept."""
    kept = [(k, v) for k, vs in query_of(search).items() if k not in FILTER_KEYS for v in vs]
    return _search(state_pairs(state) + kept)


def with_param(search: str | None, name: str, value: str | None) -> str:
    """``search`` with one page parameter set (or removed when ``value`` is empty)."""
    pairs = [(k, v) for k, vs in query_of(search).items() if k != name for v in vs]
    if value:
        pairs.append((name, value))
    return _search(pairs)


def choice(query: Query, name: str, allowed: Sequence[str], default: str) -> str:
    """A page parameter restricted to ``allowed``."""
    value = _first(query, name)
    return value if value is not None and value in allowed else default


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def time_range(state: FilterState, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the state's range at ``now``."""
    today = now.astimezone(UTC).date()
    if state.range == "custom" and state.start and state.end:
        return _midnight(state.start), _midnight(state.end + timedelta(days=1))
    if state.range == "mtd":
        start = _midnight(today.replace(day=1))
        return start, max(now, start + timedelta(microseconds=1))
    if state.range == "last_month":
        end = _midnight(today.replace(day=1))
        return _midnight((end - timedelta(days=1)).date().replace(day=1)), end
    return now - timedelta(days=_DAYS.get(state.range, 7)), now


def to_filters(state: FilterState, now: datetime) -> Filters:
    """The query layer's filters for ``state`` at ``now``."""
    start, end = time_range(state, now)
    return Filters(
        start=start,
        end=end,
        project_ids=state.projects,
        api_key_ids=state.keys,
        end_users=state.users,
        models=state.models,
        tags=state.tags,
    )


def bucket_for(f: Filters) -> Bucket:
    """Hourly points up to three days, daily beyond (a readable number of bars)."""
    return "hour" if f.end - f.start <= _HOURLY_UP_TO else "day"


def from_controls(
    preset: str | None,
    projects: object,
    keys: object,
    users: object,
    models: object,
    tags: object,
    *,
    previous: FilterState | None = None,
) -> FilterState:
    """The state the filter bar's controls show (values as Dash hands them over).

    The bar has no date picker: "custom" keeps the dates ``previous`` (the URL) had.
    """
    query: dict[str, list[str]] = {
        "project": _as_list(projects),
        "key": _as_list(keys),
        "user": _as_list(users),
        "model": _as_list(models),
        "tag": _as_list(tags),
        "range": [preset or DEFAULT_RANGE],
    }
    if preset == "custom" and previous is not None and previous.start and previous.end:
        query |= {"from": [previous.start.isoformat()], "to": [previous.end.isoformat()]}
    return parse_query(query)


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]
