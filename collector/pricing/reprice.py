"""Reprice stored ``requests`` with today's catalog and overrides; the rollups follow exactly.

A price fix (a corrected catalog entry, a negotiated override added after the fact, a model
priced at last) must reach the rows already recorded, and ``hourly_rollups`` /
``hourly_tag_rollups`` / ``hourly_tier_rollups`` / ``hourly_project_rollups`` (and their
daily copies) and ``daily_upstream_rollups`` must keep equalling the sum of those rows.
Each batch (keyset-paged by id) is one transaction: rows get their new cost, the old one
kept in ``previous_cost_usd``, and the rollups move by the difference. A checkpoint file written
after each commit lets an interrupted run resume; a second run changes only ``repriced_at``.

Rows left as recorded, and why:

Rows booked ``reported`` (usage the client reported) stay ``reported`` when repriced.

- ``provider_reported``: the provider's own figure is what was billed; our catalog only
  models that bill, so replacing a reported amount with a computed one makes it less true.
- no billable units: such a row is either a known $0 (nothing answered) or "usage unknown"
  (``unpriced``); pricing it would invent a silent $0 or a false "unpriced".
- billed per image (DALL·E): size and quality set that price and ``requests`` lacks them.
- usage the engine rejects (``PricingError``): counted as invalid, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, inspect, or_, select

from collector.db.base import table_of
from collector.db.models import (
    Request,
    daily_project_rollups,
    daily_rollups,
    daily_tag_rollups,
    daily_tier_rollups,
    daily_upstream_rollups,
    hourly_project_rollups,
    hourly_rollups,
    hourly_tag_rollups,
    hourly_tier_rollups,
)
from collector.db.prune import months_condition
from collector.dbapi import ROLLUP_WRITERS_EXCLUSIVE
from collector.errors import PricingError, StorageError
from collector.pricing._catalog import Catalog, load_catalog
from collector.pricing._engine import as_reported, compute_cost
from collector.pricing._reprice_progress import (
    Checkpoint,
    RepriceSummary,
    RepriceWindow,
    checkpoint_for,
)
from collector.pricing._reprice_write import (
    RepriceConflict,
    apply_deltas,
    row_deltas,
    tier_deltas,
    update_rows,
    upstream_deltas,
)
from collector.pricing._types import PriceOverride, Unit, require_aware
from collector.pricing.overrides import load_overrides
from collector.recorder.rollup import by_day, by_project
from collector.usage import TOOL_CALL_FIELDS, Cost, CostSource, Outcome, Usage

_REQUESTS = table_of(Request)
_R = _REQUESTS.c
_UNPRICED = Cost(None, CostSource.UNPRICED)
_ROLLUP_KEYS = ("hour", "project_id", "api_key_id", "end_user", "model", "outcome")
_TAG_KEYS = ("hour", "tag", "project_id", "model", "outcome")
_DAILY_KEYS = ("day", *_ROLLUP_KEYS[1:])
_DAILY_TAG_KEYS = ("day", *_TAG_KEYS[1:])
_TIER_KEYS = (*_ROLLUP_KEYS, "tier")
_DAILY_TIER_KEYS = ("day", *_TIER_KEYS[1:])
_UPSTREAM_KEYS = ("day", "upstream", "model", "outcome")
_PROJECT_KEYS = ("hour", "project_id", "model", "outcome")
_DAILY_PROJECT_KEYS = ("day", *_PROJECT_KEYS[1:])
_COLUMNS = (
    "id", "started_at", "endpoint", "model_served", "model_requested", "project_id",
    "api_key_id", "end_user", "outcome", "tags", "prompt_tokens", "cached_tokens",
    "cache_write_tokens",
    "completion_tokens", "reasoning_tokens", "audio_prompt_tokens", "audio_completion_tokens",
    "image_tokens", "audio_seconds", "characters", "images", "batch", "service_tier",
    "upstream", "provider", "cost_usd", "cost_source", "price_id", "previous_cost_usd", "cost_note",
    *TOOL_CALL_FIELDS,
)  # fmt: skip
_SCHEMA = {
    "requests": {"cost_usd", "previous_cost_usd", "repriced_at"},
    "hourly_rollups": {"cost_usd", "unpriced_requests", "estimated_requests"},
    "hourly_tag_rollups": {"cost_usd"},
    "daily_rollups": {"cost_usd", "unpriced_requests", "estimated_requests"},
    "daily_tag_rollups": {"cost_usd"},
    "hourly_tier_rollups": {"cost_usd", "priced_requests"},
    "daily_tier_rollups": {"cost_usd", "priced_requests"},
    "hourly_project_rollups": {"cost_usd", "unpriced_requests", "estimated_requests"},
    "daily_project_rollups": {"cost_usd", "unpriced_requests", "estimated_requests"},
    "daily_upstream_rollups": {"cost_usd", "unpriced_requests", "estimated_requests"},
}


class SchemaOutdated(StorageError):
    """The tables or columns reprice needs are missing: the database needs an upgrade."""


def check_schema(engine: Engine) -> None:
    """Raise SchemaOutdated (one line) when the tables or columns reprice needs are missing."""
    inspector = inspect(engine)
    for table, needed in _SCHEMA.items():
        if not inspector.has_table(table):
            raise SchemaOutdated(f"the database has no {table} table: run `spendscope db upgrade`")
        present = {c["name"] for c in inspector.get_columns(table)}
        if not needed <= present:
            raise SchemaOutdated(f"table {table} is out of date: run `spendscope db upgrade`")


def count_rows(engine: Engine, window: RepriceWindow) -> int:
    """How many rows a run over ``window`` reads (for a progress bar)."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(*_filters(window))) or 0)


def reprice(
    engine: Engine,
    window: RepriceWindow,
    *,
    now: datetime,
    batch_size: int = 1000,
    dry_run: bool = False,
    checkpoint: Checkpoint | None = None,
    restart: bool = False,
    on_batch: Callable[[RepriceSummary], None] | None = None,
    overrides: Sequence[PriceOverride] | None = None,
    catalog: Catalog | None = None,
    regional_upstreams: Collection[str] = (),
) -> RepriceSummary:
    """Reprice ``window``'s rows batch by batch; returns the (cumulative) summary.

    ``now`` stamps ``repriced_at``. With a ``checkpoint`` (ignored on ``dry_run``), a run
    resumes after its last committed id unless ``restart``; it is saved after each commit,
    then ``on_batch`` is called, and cleared when the run completes. Overrides default to
    the database's, the catalog to the shipped one. A row whose stored ``upstream`` is one
    of ``regional_upstreams`` (the setting of that name) is priced with the regional uplift.
    """
    if batch_size < 1:
        raise PricingError("batch size must be at least 1")
    require_aware(now, "now")
    if dry_run:
        checkpoint = None
    summary = None if checkpoint is None or restart else checkpoint.load()
    summary = summary or RepriceSummary()
    summary.resumed = summary.last_id is not None
    if overrides is None:
        overrides = _load_overrides(engine)
    regional = frozenset(regional_upstreams)
    pricer = _Pricer(catalog or load_catalog(), tuple(overrides), regional)
    while plans := _run_batch(engine, window, pricer, summary, batch_size, now, dry_run):
        _tally(summary, plans)
        if checkpoint is not None:
            checkpoint.save(summary)
        if on_batch is not None:
            on_batch(summary)
    if checkpoint is not None:
        checkpoint.clear()
    return summary


def _run_batch(
    engine: Engine,
    window: RepriceWindow,
    pricer: _Pricer,
    summary: RepriceSummary,
    size: int,
    now: datetime,
    dry_run: bool,
) -> list[_Plan]:
    """Read, price and (unless a dry run) write one batch in one transaction."""
    if dry_run:
        with engine.connect() as conn:
            return [pricer.plan(row) for row in _read_batch(conn, window, summary.last_id, size)]
    with engine.begin() as conn:
        plans = [pricer.plan(row) for row in _read_batch(conn, window, summary.last_id, size)]
        if conn.dialect.name == "postgresql":  # no recorder batch half-way through its rows
            conn.exec_driver_sql(ROLLUP_WRITERS_EXCLUSIVE)
        _write(conn, plans, now, summary)
    return plans


def _load_overrides(engine: Engine) -> list[PriceOverride]:
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        return load_overrides(session)


def _filters(window: RepriceWindow) -> list[Any]:
    found = [
        _R.started_at >= window.start,
        _R.started_at < window.end,
        _R.cost_source != CostSource.PROVIDER_REPORTED.value,
        _R.outcome != Outcome.CACHE_HIT.value,  # $0 by design; its saving is the original's
    ]
    if window.model is not None:
        found.append(or_(_R.model_served == window.model, _R.model_requested == window.model))
    return found


def _read_batch(conn: Connection, window: RepriceWindow, after: str | None, size: int) -> list[Any]:
    """The next ``size`` rows of the window by id. On partitioned PostgreSQL only the months
    holding rows of the window are read: the walk by id otherwise went through every later
    month's whole key looking for a row of the window (230 rows/s at 50 M requests)."""
    query = select(*(_R[name] for name in _COLUMNS)).where(*_filters(window))
    if (months := months_condition(conn, window.start, window.end)) is not None:
        query = query.where(months)
    if after is not None:
        query = query.where(_R.id > after)
    return list(conn.execute(query.order_by(_R.id).limit(size)))


@dataclass(frozen=True, slots=True)
class _Plan:
    """What happens to one row: ``new`` is None when it is left as recorded (``skip``)."""

    row: Any
    new: Cost | None
    skip: str | None = None
    changed: bool = False


def _planned(row: Any, new: Cost) -> _Plan:
    old = (row.cost_usd, row.cost_source, row.price_id)
    return _Plan(row, new, changed=old != (new.cost_usd, new.cost_source.value, new.price_id))


class _Pricer:
    """The pure part: a stored row's usage and mode → its cost under today's prices."""

    def __init__(
        self,
        catalog: Catalog,
        overrides: tuple[PriceOverride, ...],
        regional: frozenset[str] = frozenset(),
    ) -> None:
        self.catalog = catalog
        self.overrides = overrides
        self.regional = regional

    def plan(self, row: Any) -> _Plan:
        usage = _usage_of_row(row)
        if not _billable(usage):
            return _Plan(row, None, "no_usage")
        models = [m for m in dict.fromkeys((row.model_served, row.model_requested)) if m]
        entries = (self.catalog.resolve(m, row.started_at) for m in models)
        if any(e is not None and e.unit is Unit.IMAGE for e in entries):
            return _Plan(row, None, "per_image")
        try:
            return _planned(row, self._price(row, usage, models))
        except PricingError:
            return _Plan(row, None, "invalid")

    def _price(self, row: Any, usage: Usage, models: list[str]) -> Cost:
        """As the gateway prices: the served model, else the requested one."""
        cost = _UNPRICED
        for model in models:
            cost = compute_cost(
                usage,
                model,
                row.started_at,
                batch=bool(row.batch),
                service_tier=row.service_tier,
                overrides=self.overrides,
                estimated=row.cost_source == CostSource.ESTIMATED.value,
                catalog=self.catalog,
                regional=row.upstream in self.regional,
                # the gateway's rows name who served them; reported ones (no upstream) do not
                provider=row.provider if row.upstream is not None else None,
            )
            if cost.cost_source is not CostSource.UNPRICED:
                break
        return as_reported(cost) if row.cost_source == CostSource.REPORTED.value else cost


def _usage_of_row(row: Any) -> Usage:
    """A ``requests`` row's usage. ``image_tokens`` holds input + output image tokens; only
    the images endpoint bills output as image tokens, so there the output is split off."""
    image_out = min(row.image_tokens, row.completion_tokens) if "/images/" in row.endpoint else 0
    tools: dict[str, Any] = {name: getattr(row, name) or 0 for name in TOOL_CALL_FIELDS}
    return Usage(
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cached_tokens=row.cached_tokens,
        cache_write_tokens=row.cache_write_tokens or 0,
        reasoning_tokens=row.reasoning_tokens,
        audio_prompt_tokens=row.audio_prompt_tokens,
        audio_completion_tokens=row.audio_completion_tokens,
        image_prompt_tokens=row.image_tokens - image_out,
        image_completion_tokens=image_out,
        audio_seconds=Decimal(row.audio_seconds or 0),
        characters=row.characters,
        images=row.images,
        **tools,
    )


def _billable(usage: Usage) -> bool:
    units = (usage.prompt_tokens, usage.completion_tokens, usage.characters, usage.images)
    return any(units) or usage.audio_seconds > 0 or usage.tool_calls > 0


def _tally(summary: RepriceSummary, plans: Sequence[_Plan]) -> None:
    for plan in plans:
        old = plan.row.cost_usd
        summary.scanned += 1
        summary.old_cost_usd += old or 0
        if plan.new is None:
            summary.new_cost_usd += old or 0
            summary.skipped_no_usage += plan.skip == "no_usage"
            summary.skipped_per_image += plan.skip == "per_image"
            summary.invalid += plan.skip == "invalid"
            continue
        summary.new_cost_usd += plan.new.cost_usd or 0
        if plan.changed:
            summary.changed += 1
            summary.newly_priced += old is None and plan.new.cost_usd is not None
            summary.newly_unpriced += old is not None and plan.new.cost_usd is None
    summary.batches += 1
    summary.last_id = plans[-1].row.id


def _write(
    conn: Connection, plans: Sequence[_Plan], now: datetime, summary: RepriceSummary
) -> None:
    """Rows, then the rollups by the difference; all in the caller's transaction."""
    priced = [p for p in plans if p.new is not None]
    update_rows(conn, priced, now)
    changed = [p for p in priced if p.changed]
    rollups, tags = row_deltas(changed)
    summary.rollup_rows_missing += apply_deltas(conn, hourly_rollups, _ROLLUP_KEYS, rollups)
    summary.rollup_rows_missing += apply_deltas(conn, hourly_tag_rollups, _TAG_KEYS, tags)
    # the daily copies move by the same differences, summed per UTC day (no triggers since
    # migration 0005); missing daily rows are a symptom of the same shortfall, not counted
    apply_deltas(conn, daily_rollups, _DAILY_KEYS, by_day(rollups))
    apply_deltas(conn, daily_tag_rollups, _DAILY_TAG_KEYS, by_day(tags))
    projects = by_project(rollups)  # the rollups without key and user (migration 0010)
    apply_deltas(conn, hourly_project_rollups, _PROJECT_KEYS, projects)
    apply_deltas(conn, daily_project_rollups, _DAILY_PROJECT_KEYS, by_day(projects))
    upstreams = by_day(upstream_deltas(changed))  # per OpenAI key, for reconciliation (0033)
    apply_deltas(conn, daily_upstream_rollups, _UPSTREAM_KEYS, upstreams)
    # every batch / flex row has its tier rows (they count unpriced rows too), so a row
    # that becomes priced finds the row to add its tokens to
    tiers = tier_deltas(changed)
    apply_deltas(conn, hourly_tier_rollups, _TIER_KEYS, tiers)
    apply_deltas(conn, daily_tier_rollups, _DAILY_TIER_KEYS, by_day(tiers))


__all__ = [
    "Checkpoint",
    "RepriceConflict",
    "RepriceSummary",
    "RepriceWindow",
    "SchemaOutdated",
    "check_schema",
    "checkpoint_for",
    "count_rows",
    "reprice",
]
