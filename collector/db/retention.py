"""Retention: raw ``requests`` and ``attempts`` older than ``SPENDSCOPE_RETENTION_DAYS`` go.

Rollups, budgets, alerts and the stored bill are never deleted, so every dashboard figure and
report of an old month stays exact: they read the rollups. Unpriced requests are kept (finance
follows them up, and the tag chargeback counts them from ``requests``). Rows go in bounded
batches, one short transaction each with a pause between, so the recorder's writes (SQLite
has one writer) wait at most one batch.

On partitioned PostgreSQL (``collector.db.partitions``) each month wholly older than the
cutoff is detached, cut down to the rows it must keep (unpriced ones, and any that started
after the cutoff: copied into a fresh partition of the month, attached again) and its old
partition dropped: no row is deleted one by one, and the parents' exclusive lock is held
only for the detach (catalog changes). A month with nothing left to drop is left alone. The
month straddling the cutoff, and the default partition, keep the batched delete. The same
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

from collector.db import month_cut, partitions
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
    """Drop the months older than the cutoff (partitioned PostgreSQL), then delete the older
    raw requests left (and their attempts), except unpriced ones, ``batch_rows`` at a time."""
    cutoff = retention_cutoff(retention_days, now)
    if cutoff is None:
        return RetentionResult(None)
    dropped, months = drop_old_months(engine, cutoff)
    deleted, batches = _delete_in_batches(engine, cutoff, batch_rows, pause_s)
    return RetentionResult(cutoff, dropped + deleted, batches, months)


def drop_old_months(engine: Engine, cutoff: datetime) -> tuple[int, tuple[datetime, ...]]:
    """Cut every month that ended before ``cutoff`` down to its kept rows (a month keeping
    none is dropped); returns (requests dropped, months cut, including one a stopped pass
    left detached). A month already holding only kept rows is left alone. Nothing on plain
    tables."""
    with engine.connect() as conn:
        if not partitions.is_partitioned(conn):
            return 0, ()
        leftover, attached = partitions.detached(conn), partitions.months(conn)
        old = [
            m
            for m in attached
            if partitions.add_months(m, 1) <= cutoff and month_cut.has_droppable(conn, m, cutoff)
        ]
    drop_old_pairs(engine)  # a stopped pass's
    dropped = 0
    for month in leftover:  # detached by a pass that stopped before cutting it
        dropped += cut(engine, month, cutoff)
    for month in old:
        partitions.with_lock_retry(engine, partial(partitions.detach_month, month=month))
        dropped += cut(engine, month, cutoff)
    return dropped, (*leftover, *old)


def cut(engine: Engine, month: datetime, cutoff: datetime | None) -> int:
    """Cut a detached month (:func:`month_cut.cut_month`), then drop its old pair, each in a
    transaction whose locks wait at most the lock timeout; returns the requests dropped."""
    dropped = partitions.with_lock_retry(
        engine, lambda conn: month_cut.cut_month(conn, month, cutoff)[0]
    )
    drop_old_pairs(engine)
    return dropped


def drop_old_pairs(engine: Engine) -> None:
    """Drop the old pairs' foreign keys (a short lock on the tables they point to), then the
    tables, whose files' removal then holds no lock the recorder waits for."""
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
        with engine.connect() as conn:
            leftover = partitions.detached(conn)
        for month in leftover:
            cut(engine, month, None)
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
