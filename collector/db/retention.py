"""Retention: raw ``requests`` and ``attempts`` older than ``SPENDSCOPE_RETENTION_DAYS`` go.

Rollups, budgets, alerts and the stored bill are never deleted, so every dashboard figure and
report of an old month stays exact: they read the rollups. Unpriced requests are kept (finance
follows them up, and the tag chargeback counts them from ``requests``). Rows go in bounded
batches, one short transaction each with a pause between, so the recorder's writes (SQLite
has one writer) wait at most one batch.

On partitioned PostgreSQL (``collector.db.partitions``) each month wholly older than the
cutoff is cut down to the rows it must keep (unpriced ones, and any that started after the
cutoff): they are copied aside while the month stays attached and in use, then the month's
partition is swapped for the copy in one transaction that holds the parents' lock for
milliseconds (``collector.db.month_stage``). No row is deleted one by one, and no kept row is
ever missing from a query. The removed rows are gone when the swap commits; the old partition
is released after every cut and the batched delete: its removed rows counted (exact), then
its files removed, in steps that hold no lock the recorder waits for
(``collector.db.month_cut``). A month with nothing left to drop is left alone. The month
straddling the cutoff, and the default partition, keep the batched delete. The same
maintenance creates the months ahead (this one and two more) whether retention is on or not.

The gateway runs :func:`maintain_forever`; one process per ``maintenance_interval_s`` slot
does the work, the one whose insert of the slot's ``maintenance_runs`` row lands.
``spendscope db maintain`` runs :func:`maintain` on demand.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from collector.db import month_cut, month_log, month_stage, partitions
from collector.db.base import table_of
from collector.db.models import Attempt, MaintenanceRun, Request
from collector.settings import Settings

log = logging.getLogger(__name__)
BATCH_ROWS = 500
PAUSE_S = 0.05
KEPT_SOURCE = "unpriced"
_RUNS = table_of(MaintenanceRun)


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """What one pass did: the cutoff (None: keep everything), requests gone (dropped with
    their month or deleted in batches), the months dropped and created (PostgreSQL)."""

    cutoff: datetime | None
    requests_deleted: int = 0
    batches: int = 0
    months_dropped: tuple[datetime, ...] = ()
    months_created: tuple[datetime, ...] = ()
    in_default: int = 0  # requests in no month's partition (PostgreSQL), after the pass


def retention_cutoff(retention_days: int | None, now: datetime) -> datetime | None:
    """The oldest start time a raw request keeps, or None when everything is kept."""
    return None if retention_days is None else now - timedelta(days=retention_days)


def apply_retention(
    engine: Engine,
    retention_days: int | None,
    now: datetime,
    *,
    batch_rows: int = BATCH_ROWS,
    pause_s: float = PAUSE_S,
) -> RetentionResult:
    """Cut the months older than the cutoff (partitioned PostgreSQL), delete the older raw
    requests left (and their attempts), except unpriced ones, ``batch_rows`` at a time; then
    count and drop the cut months' old partitions (:func:`release_old_pairs`)."""
    cutoff = retention_cutoff(retention_days, now)
    if cutoff is None:
        return RetentionResult(None)
    removed = release_old_pairs(engine)  # a stopped pass's: a month's next cut needs the name
    months = cut_old_months(engine, cutoff)
    deleted, batches = _delete_in_batches(engine, cutoff, batch_rows, pause_s)
    removed += release_old_pairs(engine)
    return RetentionResult(cutoff, removed + deleted, batches, months)


def cut_old_months(engine: Engine, cutoff: datetime) -> tuple[datetime, ...]:
    """Cut every month that ended before ``cutoff`` down to its kept rows (a month keeping
    none is dropped); returns the months cut, including one a stopped pass left detached.
    A month already holding only kept rows is left alone. Their old partitions stay for
    :func:`release_old_pairs`. Nothing on plain tables."""
    with engine.connect() as conn:
        if not partitions.is_partitioned(conn):
            return ()
        leftover, attached = partitions.detached(conn), partitions.months(conn)
        old = [
            m
            for m in attached
            if partitions.add_months(m, 1) <= cutoff and month_log.has_droppable(conn, m, cutoff)
        ]
    for month in leftover:  # detached by an earlier version's pass that stopped before its cut
        cut(engine, month, cutoff)
    month_stage.clear_stages(engine)  # a stopped pass's: built again below, from the start
    for month in old:
        swap(engine, month, cutoff)
    return (*leftover, *old)


def swap(engine: Engine, month: datetime, cutoff: datetime) -> int:
    """Cut an attached month (``collector.db.month_stage``): stage its kept rows while it
    stays in use, catch up with what was written to it meanwhile, then swap the pairs in one
    short transaction whose locks wait at most the lock timeout. Returns the rows kept."""
    month_stage.stage_month(engine, month, cutoff)
    month_stage.catch_up_until_few(engine, month, cutoff)
    return partitions.with_lock_retry(
        engine, partial(month_stage.swap_month, month=month, cutoff=cutoff)
    )


def cut(engine: Engine, month: datetime, cutoff: datetime | None) -> int:
    """Cut a detached month (:func:`month_cut.cut_month`) in a transaction whose locks wait
    at most the lock timeout; returns the requests in the month now."""
    return partitions.with_lock_retry(engine, lambda conn: month_cut.cut_month(conn, month, cutoff))


def release_old_pairs(engine: Engine) -> int:
    """Count the requests the cuts removed (exact, from the old pairs, which nothing else
    reads), then drop the old pairs: their foreign keys first (a short lock on the tables
    they point to), then the tables, whose files' removal holds no lock the recorder waits
    for. Returns the count; 0 when no cut left a pair (a stopped pass's are counted too)."""
    with engine.connect() as conn:
        if not partitions.is_partitioned(conn):
            return 0
        removed = month_cut.count_old_pairs(conn)
    drop_old_pairs(engine)
    return removed


def drop_old_pairs(engine: Engine) -> None:
    """Drop the old pairs' foreign keys, then their tables (see :func:`release_old_pairs`)."""
    partitions.with_lock_retry(engine, month_cut.unlink_old_pairs)
    partitions.with_lock_retry(engine, month_cut.drop_old_pairs)


def _delete_in_batches(
    engine: Engine, cutoff: datetime, batch_rows: int, pause_s: float
) -> tuple[int, int]:
    deleted = batches = 0
    while True:
        with engine.begin() as conn:
            ids = list(
                conn.scalars(
                    select(Request.id)
                    .where(Request.started_at < cutoff, Request.cost_source != KEPT_SOURCE)
                    .limit(batch_rows)
                )
            )
            if ids:
                conn.execute(delete(Attempt).where(Attempt.request_id.in_(ids)))
                conn.execute(delete(Request).where(Request.id.in_(ids)))
        deleted += len(ids)
        batches += bool(ids)
        if len(ids) < batch_rows:
            return deleted, batches
        time.sleep(pause_s)  # let the recorder's transactions in between batches


def maintain(engine: Engine, retention_days: int | None, now: datetime) -> RetentionResult:
    """Create the months ahead (partitioned PostgreSQL), then apply the retention."""
    with engine.connect() as conn:
        partitioned = partitions.is_partitioned(conn)
    created: tuple[datetime, ...] = ()
    if partitioned:
        made = partitions.ensure_months(engine, partitions.months_ahead(now))
        created = made.months
        if created:
            log.info(
                "maintenance: created the partitions of %s (%d rows moved out of the default)",
                ", ".join(f"{m:%Y-%m}" for m in created),
                made.moved,
            )
    if partitioned and retention_days is None:  # a month a pass left detached goes back whole
        month_stage.clear_stages(engine)  # and a stage left stops logging
        with engine.connect() as conn:
            leftover = partitions.detached(conn)
        for month in leftover:
            cut(engine, month, None)
        release_old_pairs(engine)  # nothing was removed: the old pairs hold only kept rows
    result = apply_retention(engine, retention_days, now)
    if not partitioned:
        return result
    with engine.connect() as conn:
        in_default = partitions.default_rows(conn)
    return replace(result, months_created=created, in_default=in_default)


def slot_of(now: datetime, interval_s: float) -> datetime:
    """The start of the maintenance interval holding ``now`` (UTC)."""
    seconds = now.timestamp() // interval_s * interval_s
    return datetime.fromtimestamp(seconds, UTC)


def claim_slot(engine: Engine, slot: datetime, now: datetime) -> bool:
    """True for exactly one caller per slot, across processes."""
    with engine.begin() as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(_RUNS).values(
            slot=slot, claimed_at=now, finished_at=None, requests_deleted=0
        )
        won = conn.execute(
            stmt.on_conflict_do_nothing(index_elements=["slot"]).returning(_RUNS.c.slot)
        ).scalar()
        return won is not None


def maintain_once(engine: Engine, settings: Settings, now: datetime) -> RetentionResult | None:
    """This slot's maintenance, when this process claims the slot (else None). With the
    retention off and plain tables there is nothing to do (None)."""
    if settings.retention_days is None and engine.dialect.name != "postgresql":
        return None
    slot = slot_of(now, settings.maintenance_interval_s)
    if not claim_slot(engine, slot, now):
        return None
    result = maintain(engine, settings.retention_days, now)
    with engine.begin() as conn:
        conn.execute(
            update(_RUNS)
            .where(_RUNS.c.slot == slot)
            .values(finished_at=datetime.now(UTC), requests_deleted=result.requests_deleted)
        )
    return None if settings.retention_days is None else result


async def maintain_forever(engine: Engine, settings: Settings) -> None:
    """Once per interval, in one process of the deployment: the months ahead (PostgreSQL)
    and the retention."""
    while True:
        try:
            result = await asyncio.to_thread(maintain_once, engine, settings, datetime.now(UTC))
            if result is not None and result.requests_deleted:
                log.info(
                    "maintenance: deleted %d requests older than %s (%d months dropped)",
                    result.requests_deleted,
                    result.cutoff,
                    len(result.months_dropped),
                )
        except Exception as exc:
            log.warning("maintenance failed (retention or partitions): %s", exc)
        await asyncio.sleep(settings.maintenance_interval_s)
