"""The URL query string ↔ filter bar ↔ query-layer Filters round trip."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dash import no_update

from dashboard import ids
from dashboard.filters import (
    FilterState,
    bucket_for,
    from_controls,
    merge_search,
    parse_search,
    time_range,
    to_filters,
    with_param,
)
from dashboard.shell import controls_of, sync_filters

NOW = datetime(2026, 11, 15, 10, 30, tzinfo=UTC)


def test_parse_and_render_round_trip() -> None:
    search = "?range=30d&project=2&project=3&key=7&user=alice&model=gpt-4o&tag=team%3Dml"
    state = parse_search(search)
    assert state == FilterState(
        range="30d", projects=(2, 3), keys=(7,), users=("alice",), models=("gpt-4o",),
        tags=("team=ml",),
    )  # fmt: skip
    assert parse_search(merge_search("", state)) == state


def test_bad_values_are_dropped_not_fatal() -> None:
    state = parse_search("?range=forever&project=x&project=4&tag=no-equals&from=2026-13-01")
    assert state == FilterState(projects=(4,))


def test_custom_range_needs_both_dates_in_order() -> None:
    custom = parse_search("?from=2026-11-01&to=2026-11-03")
    assert (custom.range, custom.start, custom.end) == (
        "custom",
        date(2026, 11, 1),
        date(2026, 11, 3),
    )
    assert parse_search("?range=custom&from=2026-11-05&to=2026-11-03").range == "7d"
    start, end = time_range(custom, NOW)
    assert (start, end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC))


def test_presets_resolve_against_now() -> None:
    assert time_range(FilterState(range="24h"), NOW) == (NOW - timedelta(days=1), NOW)
    assert time_range(FilterState(range="mtd"), NOW)[0] == datetime(2026, 11, 1, tzinfo=UTC)
    last = time_range(FilterState(range="last_month"), NOW)
    assert last == (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    midnight = datetime(2026, 11, 1, tzinfo=UTC)
    start, end = time_range(FilterState(range="mtd"), midnight)
    assert end > start  # a valid range even at the first instant of a month


def test_to_filters_and_bucket() -> None:
    f = to_filters(parse_search("?range=24h&model=gpt-4o&key=3"), NOW)
    assert f.models == ("gpt-4o",) and f.api_key_ids == (3,)
    assert bucket_for(f) == "hour"
    assert bucket_for(to_filters(FilterState(range="30d"), NOW)) == "day"


def test_merge_keeps_page_parameters_and_drops_default_range() -> None:
    merged = merge_search("?range=30d&by=project&page=2", FilterState(models=("o3",)))
    assert merged == "?model=o3&by=project&page=2"
    assert with_param(merged, "by", None) == "?model=o3&page=2"
    assert with_param("", "pct", "p99") == "?pct=p99"


def test_controls_map_to_state_and_keep_custom_dates() -> None:
    state = from_controls("30d", [1, "2"], None, ["bob"], [], "env=prod")
    assert state.projects == (1, 2) and state.users == ("bob",) and state.tags == ("env=prod",)
    previous = parse_search("?from=2026-11-01&to=2026-11-03")
    kept = from_controls("custom", [], [], [], ["o3"], [], previous=previous)
    assert (kept.range, kept.start, kept.end) == ("custom", date(2026, 11, 1), date(2026, 11, 3))
    assert from_controls("custom", [], [], [], [], []).range == "7d"  # no dates to keep


def test_sync_filters_url_to_controls_and_back() -> None:
    search = "?range=30d&model=o3&by=user"
    on_load = sync_filters(None, search, ())
    assert on_load[0] is no_update
    assert on_load[1:] == list(controls_of(parse_search(search)))
    changed = sync_filters(ids.MODELS, search, ("30d", [], [], [], ["o3", "gpt-4o"], []))
    assert changed[0] == "?range=30d&model=o3&model=gpt-4o&by=user"
    assert all(v is no_update for v in changed[1:])
    unchanged = sync_filters(ids.MODELS, search, ("30d", [], [], [], ["o3"], []))
    assert unchanged[0] is no_update  # no loop: same URL is not written again
    reset = sync_filters(ids.RESET, search, ("30d", [], [], [], ["o3"], []))
    assert reset[0] == "?by=user" and reset[1] == "7d"
