"""Repricing stored requests: exact new costs, rollups equal to raw sums, resume, and the CLI."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import Engine, delete, func, select, update
from typer.testing import CliRunner

from collector.cli.pricing import register
from collector.db import PriceOverride as OverrideRow
from collector.db import (
    Request,
    hourly_rollups,
    hourly_tag_rollups,
    make_engine,
    models,
    session_scope,
)
from collector.pricing import Catalog, PriceEntry, PriceOverride, add_override, load_catalog
from collector.pricing.reprice import (
    RepriceConflict,
    RepriceSummary,
    RepriceWindow,
    checkpoint_for,
    reprice,
)
from collector.recorder import UsageEvent, write_batch
from collector.settings import get_settings
from tests.factories import T0, make_event, make_key, make_project
from tests.support.templates import migrate

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
DAY = RepriceWindow(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
MINI = "gpt-4o-mini-2024-07-18"
MINI_PRICE = f"{MINI}@2024-07-18"
HOUR = timedelta(hours=1)


# --- helpers ------------------------------------------------------------------------------


def _events(project: int, key: int) -> list[UsageEvent]:
    """Rows of every kind a reprice meets, spread over two hours, with tags."""
    tags = {"team": "search"}
    mini = {"price_id": MINI_PRICE}
    return [
        # 900 × 0.15 + 100 × 0.075 + 200 × 0.60 = 262.5 → $0.0002625 (as recorded)
        make_event(
            prompt_tokens=1000,
            cached_tokens=100,
            completion_tokens=200,
            cost_usd=Decimal("0.0002625"),
            price_id=MINI_PRICE,
            project_id=project,
            api_key_id=key,
            end_user="u1",
            tags=tags,
        ),
        make_event(project_id=project, api_key_id=key, end_user="u1", tags=tags, **mini),
        make_event(
            started_at=T0 + HOUR,
            project_id=project,
            upstream="azure",
            tags={"team": "ads", "env": "prod"},
            **mini,
        ),
        make_event(
            started_at=T0 + HOUR + timedelta(minutes=5),
            cost_source="estimated",
            prompt_tokens=2000,
            completion_tokens=1000,
            cost_usd=Decimal("0.0009"),
            outcome="cancelled",
            tags=tags,
            **mini,
        ),
        make_event(
            model_requested="acme-llm",
            model_served="acme-llm-1",
            cost_usd=None,
            cost_source="unpriced",
            project_id=project,
            tags=tags,
        ),
        make_event(cost_source="provider_reported", cost_usd=Decimal("0.5"), tags=tags),
    ]


def _setup(engine: Engine, events: list[UsageEvent] | None = None) -> list[UsageEvent]:
    if events is None:
        project = make_project(engine)
        events = _events(project, make_key(engine, project))
    assert write_batch(engine, events) == len(events)
    return events


def _override(
    engine: Engine,
    model: str = MINI,
    *,
    input_per_1m: str | None = None,
    output_per_1m: str | None = None,
) -> str:
    """A price override in force for every test row; unset rates keep the catalog's."""
    deal = PriceOverride(
        model,
        datetime(2026, 1, 1, tzinfo=UTC),
        input_per_1m=None if input_per_1m is None else Decimal(input_per_1m),
        output_per_1m=None if output_per_1m is None else Decimal(output_per_1m),
    )
    with session_scope(engine) as session:
        added = add_override(session, deal)
    assert added.id is not None
    return added.id


def _rows(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(Request.__table__))}


def _state(engine: Engine) -> dict[str, tuple[Any, ...]]:
    fields = ("cost_usd", "cost_source", "price_id", "previous_cost_usd", "repriced_at")
    return {i: tuple(getattr(r, f) for f in fields) for i, r in _rows(engine).items()}


def _raw_sums(engine: Engine) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Rollups recomputed from the raw rows, keyed exactly as the recorder keys them."""
    rollups: dict[Any, list[Any]] = defaultdict(lambda: [0, Decimal(0), 0, 0])
    tags: dict[Any, list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for r in _rows(engine).values():
        hour = r.started_at.replace(minute=0, second=0, microsecond=0)
        model = r.model_served or r.model_requested or ""
        key = (hour, r.project_id or 0, r.api_key_id or 0, r.end_user or "", model, r.outcome)
        cost = r.cost_usd or Decimal(0)
        sums = rollups[key]
        sums[0] += 1
        sums[1] += cost
        sums[2] += r.cost_source == "unpriced"
        sums[3] += r.cost_source == "estimated"
        for name, value in r.tags.items():
            tag = tags[(hour, f"{name}={value}", r.project_id or 0, model, r.outcome)]
            tag[0] += 1
            tag[1] += cost
    return {k: tuple(v) for k, v in rollups.items()}, {k: tuple(v) for k, v in tags.items()}


def _stored_sums(engine: Engine) -> tuple[dict[Any, Any], dict[Any, Any]]:
    with engine.connect() as conn:
        rollups = {
            (x.hour, x.project_id, x.api_key_id, x.end_user, x.model, x.outcome): (
                x.requests,
                x.cost_usd,
                x.unpriced_requests,
                x.estimated_requests,
            )
            for x in conn.execute(select(hourly_rollups))
        }
        tags = {
            (x.hour, x.tag, x.project_id, x.model, x.outcome): (x.requests, x.cost_usd)
            for x in conn.execute(select(hourly_tag_rollups))
        }
    return rollups, tags


def _daily_sums(engine: Engine) -> Iterator[tuple[dict[Any, Any], dict[Any, Any]]]:
    """(daily table as stored, hourly rows summed per day), where daily tables exist."""
    for hourly, daily_name, counters in (
        (hourly_rollups, "daily_rollups", ("requests", "cost_usd", "unpriced_requests")),
        (hourly_tag_rollups, "daily_tag_rollups", ("requests", "cost_usd")),
    ):
        daily = getattr(models, daily_name)  # the recorder and reprice write them (0005)
        keys = [c.name for c in hourly.primary_key.columns if c.name != "hour"]
        summed: dict[Any, list[Any]] = {}
        with engine.connect() as conn:
            for row in conn.execute(select(hourly)).mappings():
                day = row["hour"].replace(hour=0)
                sums = summed.setdefault((day, *(row[k] for k in keys)), [0] * len(counters))
                for i, name in enumerate(counters):
                    sums[i] += row[name]
            stored = {
                (row["day"], *(row[k] for k in keys)): tuple(row[c] for c in counters)
                for row in conn.execute(select(daily)).mappings()
            }
        yield stored, {k: tuple(v) for k, v in summed.items()}


def _error_sums(engine: Engine) -> tuple[dict[Any, int], dict[Any, int]]:
    """(hourly_error_rollups as stored, failed raw rows counted the same way)."""
    raw: dict[Any, int] = defaultdict(int)
    for r in _rows(engine).values():
        if r.outcome != "success":
            hour = r.started_at.replace(minute=0, second=0, microsecond=0)
            model = r.model_served or r.model_requested or ""
            key = (hour, r.project_id or 0, r.api_key_id or 0, r.end_user or "", model)
            raw[(*key, r.outcome, r.error_type or "", r.http_status or 0)] += 1
    t = models.hourly_error_rollups.c
    keys = (t.hour, t.project_id, t.api_key_id, t.end_user, t.model, t.outcome, t.error_type)
    with engine.connect() as conn:
        rows = conn.execute(select(*keys, t.http_status, t.requests))
        stored = {tuple(row[:-1]): row[-1] for row in rows}
    return stored, dict(raw)


_TIER_COUNTERS = ("requests", *models.TIER_COUNTERS, "cost_usd")


def _tier_sums(engine: Engine, period: str) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """(hourly or daily tier rollups as stored, batch / flex raw rows summed the same way)."""
    raw: dict[Any, list[Any]] = {}
    for r in _rows(engine).values():
        if not (r.batch or r.service_tier == "flex"):
            continue
        at = r.started_at.replace(minute=0, second=0, microsecond=0)
        at = at.replace(hour=0) if period == "day" else at
        model = r.model_served or r.model_requested or ""
        key = (at, r.project_id or 0, r.api_key_id or 0, r.end_user or "", model, r.outcome)
        sums = raw.setdefault((*key, "batch" if r.batch else "flex"), [0] * 7 + [Decimal(0)])
        sums[0] += 1
        if r.cost_usd is not None:
            sums[1] += 1
            for i, name in enumerate(models.TIER_COUNTERS[1:], start=2):
                sums[i] += getattr(r, name)
            sums[7] += r.cost_usd
    table = models.hourly_tier_rollups if period == "hour" else models.daily_tier_rollups
    keys = [c.name for c in table.primary_key.columns]
    with engine.connect() as conn:
        stored = {
            tuple(row[k] for k in keys): tuple(row[c] for c in _TIER_COUNTERS)
            for row in conn.execute(select(table)).mappings()
        }
    return stored, {k: tuple(v) for k, v in raw.items()}


def _project_sums(engine: Engine, period: str) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """(hourly or daily project rollups as stored, raw rows summed per project, model, outcome)."""
    raw: dict[Any, list[Any]] = defaultdict(lambda: [0, Decimal(0), 0, 0])
    for r in _rows(engine).values():
        at = r.started_at.replace(minute=0, second=0, microsecond=0)
        at = at.replace(hour=0) if period == "day" else at
        sums = raw[(at, r.project_id or 0, r.model_served or r.model_requested or "", r.outcome)]
        sums[0] += 1
        sums[1] += r.cost_usd or Decimal(0)
        sums[2] += r.cost_source == "unpriced"
        sums[3] += r.cost_source == "estimated"
    table = models.hourly_project_rollups if period == "hour" else models.daily_project_rollups
    t = table.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(*table.primary_key.columns, t.requests, t.cost_usd, t.unpriced_requests,
                   t.estimated_requests)
        )  # fmt: skip
        stored = {tuple(row[:4]): tuple(row[4:]) for row in rows}
    return stored, {k: tuple(v) for k, v in raw.items()}


def _upstream_sums(engine: Engine) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """(daily upstream rollups as stored, raw rows summed per day, upstream, model, outcome)."""
    raw: dict[Any, list[Any]] = defaultdict(lambda: [0, Decimal(0), 0, 0])
    for r in _rows(engine).values():
        day = r.started_at.replace(hour=0, minute=0, second=0, microsecond=0)
        model = r.model_served or r.model_requested or ""
        sums = raw[(day, r.upstream or "default", model, r.outcome)]
        sums[0] += 1
        sums[1] += r.cost_usd or Decimal(0)
        sums[2] += r.cost_source == "unpriced"
        sums[3] += r.cost_source == "estimated"
    t = models.daily_upstream_rollups.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.day, t.upstream, t.model, t.outcome, t.requests, t.cost_usd,
                   t.unpriced_requests, t.estimated_requests)
        )  # fmt: skip
        stored = {tuple(row[:4]): tuple(row[4:]) for row in rows}
    return stored, {k: tuple(v) for k, v in raw.items()}


def assert_rollups_equal_raw(engine: Engine) -> None:
    """Every rollup equals the raw rows: hourly and error ones directly, daily by day."""
    assert _stored_sums(engine) == _raw_sums(engine)
    for period in ("hour", "day"):
        stored_projects, raw_projects = _project_sums(engine, period)
        assert stored_projects == raw_projects, period
    for stored, expected in _daily_sums(engine):
        assert stored == expected
    stored_errors, raw_errors = _error_sums(engine)
    assert stored_errors == raw_errors
    for period in ("hour", "day"):
        stored_tiers, raw_tiers = _tier_sums(engine, period)
        assert stored_tiers == raw_tiers, period
    stored_upstreams, raw_upstreams = _upstream_sums(engine)
    assert stored_upstreams == raw_upstreams


# --- the API ------------------------------------------------------------------------------


def test_override_reprices_exactly_and_rollups_follow(engine: Engine) -> None:
    events = _setup(engine)
    assert_rollups_equal_raw(engine)
    deal = _override(engine, input_per_1m="0.30")  # cached and output keep the catalog's

    summary = reprice(engine, DAY, now=NOW, batch_size=2)

    rows = _rows(engine)
    first, second, third, estimated, unknown, reported = (rows[e.id] for e in events)
    # 900 × 0.30 + 100 × 0.075 + 200 × 0.60 = 397.5 → $0.0003975
    assert first.cost_usd == Decimal("0.0003975000")
    assert first.previous_cost_usd == Decimal("0.0002625000")
    assert first.price_id == f"{MINI_PRICE}+override:{deal}"
    assert (first.cost_source, first.repriced_at) == ("computed", NOW)
    # 100 × 0.30 + 20 × 0.60 = 42 → $0.000042 (was $0.000027)
    for row in (second, third):
        assert (row.cost_usd, row.previous_cost_usd) == (Decimal("0.000042"), Decimal("0.000027"))
    # estimated stays estimated: 2000 × 0.30 + 1000 × 0.60 = 1,200 → $0.0012
    assert (estimated.cost_usd, estimated.cost_source) == (Decimal("0.0012"), "estimated")
    assert estimated.previous_cost_usd == Decimal("0.0009")
    # unknown model: still unpriced, cost NULL, checked but not changed
    assert (unknown.cost_usd, unknown.cost_source, unknown.price_id) == (None, "unpriced", None)
    assert (unknown.previous_cost_usd, unknown.repriced_at) == (None, NOW)
    # provider_reported is never touched
    assert (reported.cost_usd, reported.previous_cost_usd) == (Decimal("0.5"), None)
    assert reported.repriced_at is None

    assert (summary.scanned, summary.changed, summary.batches) == (5, 4, 3)
    assert (summary.newly_priced, summary.newly_unpriced) == (0, 0)
    assert summary.old_cost_usd == Decimal("0.0002625") + 2 * Decimal("0.000027") + Decimal(
        "0.0009"
    )
    assert summary.new_cost_usd == Decimal("0.0003975") + Decimal("0.000084") + Decimal("0.0012")
    assert summary.rollup_rows_missing == 0
    assert_rollups_equal_raw(engine)


def test_unpriced_row_gets_priced_then_unpriced_again(engine: Engine) -> None:
    events = _setup(engine)
    unknown = events[4].id
    _override(engine, "acme-llm-1", input_per_1m="2", output_per_1m="8")

    first = reprice(engine, DAY, now=NOW)
    row = _rows(engine)[unknown]
    # 100 × 2 + 20 × 8 = 360 → $0.00036, priced by the override alone
    assert (row.cost_usd, row.cost_source) == (Decimal("0.00036"), "computed")
    assert row.price_id.startswith("override:")
    assert (first.newly_priced, first.newly_unpriced, first.changed) == (1, 0, 1)
    assert_rollups_equal_raw(engine)

    with session_scope(engine) as session:
        session.execute(delete(OverrideRow))
    later = NOW + HOUR
    second = reprice(engine, DAY, now=later)
    row = _rows(engine)[unknown]
    assert (row.cost_usd, row.cost_source, row.price_id) == (None, "unpriced", None)
    assert (row.previous_cost_usd, row.repriced_at) == (Decimal("0.00036"), later)
    assert (second.newly_priced, second.newly_unpriced, second.changed) == (0, 1, 1)
    assert second.new_cost_usd == second.old_cost_usd - Decimal("0.00036")
    assert_rollups_equal_raw(engine)


def test_batch_and_flex_rows_move_their_tier_rollups_exactly(engine: Engine) -> None:
    """Batch / flex rows repriced, newly priced and newly unpriced: tier rollups equal raw."""
    project = make_project(engine)
    o4 = "o4-mini-2025-04-16"
    unpriced = {"cost_usd": None, "cost_source": "unpriced"}
    usage = {"prompt_tokens": 1000, "cached_tokens": 200, "completion_tokens": 300}
    events = [
        make_event(project_id=project, batch=True, **usage),  # recorded at a wrong cost
        make_event(project_id=project, batch=True, **usage, **unpriced),
        make_event(project_id=project, model_requested=o4, model_served=o4,
                   service_tier="flex", **usage, **unpriced),
        make_event(started_at=T0 + HOUR * 11 + timedelta(minutes=59), batch=True,
                   audio_prompt_tokens=0, **usage, **unpriced),
        # batch and flex at once cannot be priced (left as recorded); it counts as batch
        make_event(batch=True, service_tier="flex", audio_prompt_tokens=9, **usage, **unpriced),
        # gpt-4o-mini has no flex rate: its recorded cost goes, the row becomes unpriced
        make_event(project_id=project, service_tier="flex", end_user="u2", **usage),
    ]  # fmt: skip
    _setup(engine, events)
    assert_rollups_equal_raw(engine)

    summary = reprice(engine, DAY, now=NOW, batch_size=2)

    assert (summary.changed, summary.newly_priced, summary.newly_unpriced) == (5, 3, 1)
    assert_rollups_equal_raw(engine)
    with engine.connect() as conn:
        t = models.daily_tier_rollups.c
        sums = conn.execute(select(func.sum(t.requests), func.sum(t.priced_requests)))
        assert tuple(sums.one()) == (6, 4)


def test_repricing_twice_changes_nothing_but_repriced_at(engine: Engine) -> None:
    _setup(engine)
    _override(engine, output_per_1m="0.90")
    reprice(engine, DAY, now=NOW, batch_size=3)
    before, sums = _state(engine), _stored_sums(engine)

    again = reprice(engine, DAY, now=NOW + HOUR, batch_size=3)

    after = _state(engine)
    assert again.changed == 0 and again.scanned == 5
    assert again.old_cost_usd == again.new_cost_usd
    for rid, values in before.items():
        assert after[rid][:4] == values[:4]  # cost, source, price id, previous cost
    assert sorted(v[4] for v in after.values() if v[4] is not None) == [NOW + HOUR] * 5
    assert _stored_sums(engine) == sums
    assert_rollups_equal_raw(engine)


def test_batch_tier_audio_and_rows_left_as_recorded(engine: Engine) -> None:
    stale = Decimal("0.001")
    audio_model = "gpt-4o-mini-audio-preview-2024-12-17"
    events = [
        make_event(prompt_tokens=1000, completion_tokens=1000, batch=True, cost_usd=stale),
        make_event(
            prompt_tokens=1000,
            cached_tokens=200,
            completion_tokens=100,
            service_tier="priority",
            cost_usd=stale,
        ),
        make_event(
            model_requested=audio_model,
            model_served=audio_model,
            prompt_tokens=500,
            audio_prompt_tokens=300,
            completion_tokens=100,
            audio_completion_tokens=50,
            cost_usd=stale,
        ),
        # answered, but no usage came back: unknown usage must not become a silent $0
        make_event(prompt_tokens=0, completion_tokens=0, cost_usd=None, cost_source="unpriced"),
        # an unknown model that never answered: a known $0, not "unpriced"
        make_event(
            model_served=None,
            model_requested="nope",
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=Decimal(0),
        ),
        make_event(service_tier="turbo", cost_usd=stale),  # the engine rejects this tier
    ]
    _setup(engine, events)

    summary = reprice(engine, DAY, now=NOW)

    rows = _rows(engine)
    costs = [rows[e.id].cost_usd for e in events]
    # batch: 1000 × 0.075 + 1000 × 0.30 = 375; priority: 800 × 0.25 + 200 × 0.125 + 100 × 1.00
    # = 325; audio: 200 × 0.15 + 300 × 10 + 50 × 0.60 + 50 × 20 = 4,060 (per 1M tokens)
    assert costs == [
        Decimal("0.000375"),
        Decimal("0.000325"),
        Decimal("0.00406"),
        None,
        Decimal(0),
        stale,
    ]
    assert [rows[e.id].repriced_at for e in events[3:]] == [None, None, None]
    assert (summary.skipped_no_usage, summary.invalid, summary.changed) == (2, 1, 3)
    assert_rollups_equal_raw(engine)


def test_window_and_model_filter(engine: Engine) -> None:
    start = datetime(2026, 11, 1, 12, tzinfo=UTC)
    window = RepriceWindow(start, start + HOUR, model="gpt-4o-mini")
    inside = make_event(started_at=start)
    at_end = make_event(started_at=start + HOUR)
    before = make_event(started_at=start - timedelta(microseconds=1))
    other = make_event(started_at=start, model_requested="o3", model_served="o3-2025-04-16")
    _setup(engine, [inside, at_end, before, other])
    _override(engine, input_per_1m="0.30")

    summary = reprice(engine, window, now=NOW)

    rows = _rows(engine)
    assert rows[inside.id].cost_usd == Decimal("0.000042")
    assert [rows[e.id].repriced_at for e in (at_end, before, other)] == [None, None, None]
    assert summary.scanned == 1
    assert_rollups_equal_raw(engine)


def test_missing_rollup_row_is_counted_not_invented(engine: Engine) -> None:
    event = make_event(tags={})
    _setup(engine, [event])
    with engine.begin() as conn:
        conn.execute(delete(hourly_rollups))
    _override(engine, input_per_1m="0.30")

    summary = reprice(engine, DAY, now=NOW)

    assert summary.rollup_rows_missing == 1
    assert _rows(engine)[event.id].cost_usd == Decimal("0.000042")
    with engine.connect() as conn:
        assert conn.execute(select(hourly_rollups)).all() == []


class _RacingCatalog(Catalog):
    """The shipped catalog; its first lookup lets another writer change a cost mid-batch."""

    def __init__(self, engine: Engine, row_id: str) -> None:
        super().__init__(load_catalog().entries)
        self.engine, self.row_id, self.raced = engine, row_id, False

    def resolve(self, model: str, at: datetime) -> PriceEntry | None:
        if not self.raced:
            self.raced = True
            with self.engine.begin() as conn:
                conn.execute(update(Request).where(Request.id == self.row_id).values(cost_usd=1))
        return super().resolve(model, at)


def test_a_row_changed_mid_batch_rolls_the_batch_back(engine: Engine) -> None:
    events = _setup(engine)
    _override(engine, input_per_1m="0.30")
    before, sums = _state(engine), _stored_sums(engine)
    target = min(e.id for e in events[:5])  # not the provider_reported row: never read

    with pytest.raises(RepriceConflict):
        reprice(engine, DAY, now=NOW, catalog=_RacingCatalog(engine, target))

    after = _state(engine)
    assert after.pop(target)[0] == Decimal(1) != before.pop(target)[0]
    assert after == before  # nothing else written
    assert _stored_sums(engine) == sums  # and the rollups did not move


# --- resume -------------------------------------------------------------------------------


class Interrupted(Exception):
    pass


def _stop_after_first(summary: RepriceSummary) -> None:
    raise Interrupted(summary)


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[Engine]:
    """A second database (SQLite), for the same work done without interruption."""
    url = f"sqlite:///{tmp_path / 'reference.db'}"
    migrate(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def test_interrupted_run_resumes_to_the_same_state(
    engine: Engine, reference: Engine, tmp_path: Path
) -> None:
    events = _setup(engine)
    project = make_project(reference)
    assert (project, make_key(reference, project)) == (events[0].project_id, events[0].api_key_id)
    _setup(reference, events)
    for eng in (engine, reference):
        _override(eng, input_per_1m="0.30", output_per_1m="0.50")
    checkpoint = checkpoint_for(tmp_path, DAY, "sqlite:///x.db")

    with pytest.raises(Interrupted) as stopped:
        reprice(
            engine, DAY, now=NOW, batch_size=2, checkpoint=checkpoint, on_batch=_stop_after_first
        )
    assert checkpoint.path.exists()
    done_id = stopped.value.args[0].last_id
    assert done_id == sorted(e.id for e in events[:5])[1]
    untouched = [r for r in _rows(engine).values() if r.id > done_id]
    assert untouched and all(r.repriced_at is None for r in untouched)
    assert_rollups_equal_raw(engine)  # a committed batch leaves the rollups exact

    resumed = reprice(engine, DAY, now=NOW, batch_size=2, checkpoint=checkpoint)
    whole = reprice(reference, DAY, now=NOW, batch_size=2)

    assert resumed.resumed and not whole.resumed
    assert not checkpoint.path.exists()  # a finished run leaves no checkpoint behind
    assert _state(engine) == _state(reference)
    assert _stored_sums(engine) == _stored_sums(reference)
    assert resumed.to_dict() | {"resumed": False} == whole.to_dict()
    assert_rollups_equal_raw(engine)


def test_restart_ignores_the_checkpoint(engine: Engine, tmp_path: Path) -> None:
    _setup(engine)
    _override(engine, input_per_1m="0.30")
    checkpoint = checkpoint_for(tmp_path, DAY, "sqlite:///x.db")
    with pytest.raises(Interrupted) as stopped:
        reprice(
            engine, DAY, now=NOW, batch_size=2, checkpoint=checkpoint, on_batch=_stop_after_first
        )
    done_first = stopped.value.args[0].changed  # ids are random within one millisecond

    again = reprice(engine, DAY, now=NOW, batch_size=2, checkpoint=checkpoint, restart=True)

    assert (again.resumed, again.scanned, again.changed) == (False, 5, 4 - done_first)
    assert not checkpoint.path.exists()
    assert_rollups_equal_raw(engine)


def test_checkpoint_is_keyed_by_arguments_and_database(tmp_path: Path) -> None:
    base = checkpoint_for(tmp_path, DAY, "sqlite:///a.db").path
    assert base.parent == tmp_path and base.name.startswith("reprice-")
    assert checkpoint_for(tmp_path, DAY, "sqlite:///a.db").path == base
    model = RepriceWindow(DAY.start, DAY.end, model="o3")
    assert checkpoint_for(tmp_path, model, "sqlite:///a.db").path != base
    assert checkpoint_for(tmp_path, DAY, "sqlite:///b.db").path != base


def test_dry_run_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    _setup(engine)
    _override(engine, input_per_1m="0.30")
    before, sums = _state(engine), _stored_sums(engine)
    checkpoint = checkpoint_for(tmp_path, DAY, "sqlite:///x.db")

    summary = reprice(engine, DAY, now=NOW, batch_size=2, dry_run=True, checkpoint=checkpoint)

    assert (summary.scanned, summary.changed) == (5, 4)
    assert _state(engine) == before and _stored_sums(engine) == sums
    assert not checkpoint.path.exists()


# --- the CLI ------------------------------------------------------------------------------


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    register(app)
    return app


@pytest.fixture
def cli_db(migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", migrated_url)
    get_settings.cache_clear()
    eng = make_engine(migrated_url)
    yield eng
    eng.dispose()


def run(app: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["prices", "reprice", *args])
    return result.exit_code, result.stdout, result.stderr


DAY_ARGS = ("--start", "2026-11-01", "--end", "2026-11-02")


def test_cli_reprices_and_prints_json(app: typer.Typer, cli_db: Engine) -> None:
    _setup(cli_db)
    _override(cli_db, input_per_1m="0.30")

    code, out, _ = run(app, *DAY_ARGS, "--batch-size", "2", "--json")

    assert code == 0
    data = json.loads(out)
    assert (data["scanned"], data["changed"], data["batches"], data["dry_run"]) == (5, 4, 3, False)
    # old: 0.0002625 + 2 × 0.000027 + 0.0009; new: 0.0003975 + 2 × 0.000042 + 0.0012
    assert (data["old_cost_usd"], data["new_cost_usd"]) == ("0.0012165000", "0.0016815000")
    assert_rollups_equal_raw(cli_db)
    assert not list(get_settings().spool_dir.parent.glob("reprice-*.json"))


def test_cli_text_summary_and_dry_run(app: typer.Typer, cli_db: Engine) -> None:
    _setup(cli_db)
    _override(cli_db, input_per_1m="0.30")
    before = _state(cli_db)

    code, out, err = run(app, "--start", "2026-11-01T00:00:00Z", "--end", "2026-11-02", "--dry-run")

    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "rows scanned: 5, changed: 4, newly priced: 0, newly unpriced: 0",
        "left as recorded: 0 without usage, 0 billed per image, 0 with invalid usage",
        "total cost: $0.0012165000 -> $0.0016815000 (+$0.0004650000)",
    ]
    assert _state(cli_db) == before


def test_cli_resumes_from_the_checkpoint_of_the_same_arguments(
    app: typer.Typer, cli_db: Engine
) -> None:
    _setup(cli_db)
    _override(cli_db, input_per_1m="0.30")
    settings = get_settings()
    checkpoint = checkpoint_for(settings.spool_dir.parent, DAY, settings.database_url)
    with pytest.raises(Interrupted):
        reprice(
            cli_db, DAY, now=NOW, batch_size=2, checkpoint=checkpoint, on_batch=_stop_after_first
        )

    code, out, _ = run(app, *DAY_ARGS, "--batch-size", "2", "--json")

    assert code == 0
    data = json.loads(out)
    assert (data["resumed"], data["scanned"], data["changed"]) == (True, 5, 4)
    assert not checkpoint.path.exists()
    assert_rollups_equal_raw(cli_db)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--end", "2026-11-02"), "--start and --end are required"),
        (("--start", "yesterday", "--end", "2026-11-02"), "--start must be an ISO-8601"),
        (("--start", "2026-11-02", "--end", "2026-11-02"), "--end must be after --start"),
        (("--start", "2026-11-03", "--end", "2026-11-02"), "--end must be after --start"),
        ((*DAY_ARGS, "--batch-size", "0"), "--batch-size must be at least 1"),
        ((*DAY_ARGS, "--batch-size", "ten"), "--batch-size must be a non-negative integer"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(
    app: typer.Typer, args: tuple[str, ...], message: str
) -> None:
    code, out, err = run(app, *args)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err


def test_cli_unknown_flag_exits_2(app: typer.Typer) -> None:
    code, _, err = run(app, *DAY_ARGS, "--fast")
    assert code == 2
    assert "No such option" in err


def test_cli_missing_tables_says_run_db_upgrade(app: typer.Typer) -> None:
    code, out, err = run(app, *DAY_ARGS)  # the default database: empty, never migrated
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "run `spendscope db upgrade`" in err


def test_a_row_the_client_reported_stays_reported_when_repriced(engine: Engine) -> None:
    project = make_project(engine)
    event = make_event(
        prompt_tokens=1000,
        cached_tokens=100,
        completion_tokens=200,
        cost_usd=Decimal("0.0002625"),
        cost_source="reported",
        price_id=MINI_PRICE,
        project_id=project,
    )
    _setup(engine, [event])
    _override(engine, input_per_1m="0.30")
    reprice(engine, DAY, now=NOW)
    row = _rows(engine)[event.id]
    # 900 × 0.30 + 100 × 0.075 + 200 × 0.60 = 397.5 → $0.0003975
    assert (row.cost_usd, row.cost_source) == (Decimal("0.0003975000"), "reported")
    assert row.previous_cost_usd == Decimal("0.0002625000")
    assert_rollups_equal_raw(engine)


def test_a_response_cache_hit_is_never_repriced(engine: Engine) -> None:
    hit = make_event(
        outcome="cache_hit", cache_hit=True, cost_usd=Decimal(0), price_id="cache:hit",
        saved_usd=Decimal("0.000027"),
    )  # fmt: skip
    assert write_batch(engine, [hit]) == 1
    _override(engine, input_per_1m="0.30")
    summary = reprice(engine, DAY, now=NOW)
    row = _rows(engine)[hit.id]
    assert (row.cost_usd, row.price_id, row.repriced_at) == (Decimal(0), "cache:hit", None)
    assert row.saved_usd == Decimal("0.000027")
    assert summary.scanned == 0
