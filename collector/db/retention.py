"""Retention: raw ``requests`` and ``attempts`` older than ``SPENDSCOPE_RETENTION_DAYS`` go.

Rollups, budgets, alerts and the stored bill are never deleted, so every dashboard figure and
report of an old month stays exact: they read the rollups. Unpriced requests are kept (finance
follows them up, and the tag chargeback counts them from ``requests``). Rows go in bounded
batches, one short transaction each with a pause between, so the recorder's writes (SQLite
has one writer) wait at most one batch.

The gateway runs :func:`maintain_forever`; one process per ``maintenance_interval_s`` slot
does the work, the one whose insert of the slot's ``maintenance_runs`` row lands.
``spendscope db maintain`` runs :func:`apply_retention` on demand.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

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
    """What one retention pass did: the cutoff (None: keep everything) and rows deleted."""

    cutoff: datetime | None
    requests_deleted: int = 0
    batches: int = 0


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
    """Delete raw requests (and their attempts) that started before the cutoff, except
    unpriced ones, ``batch_rows`` per transaction."""
    cutoff = retention_cutoff(retention_days, now)
    if cutoff is None:
        return RetentionResult(None)
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
            return RetentionResult(cutoff, deleted, batches)
        time.sleep(pause_s)  # let the recorder's transactions in between batches


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
    """This slot's retention, when this process claims the slot (else None)."""
    if settings.retention_days is None:
        return None
    slot = slot_of(now, settings.maintenance_interval_s)
    if not claim_slot(engine, slot, now):
        return None
    result = apply_retention(engine, settings.retention_days, now)
    with engine.begin() as conn:
        conn.execute(
            update(_RUNS)
            .where(_RUNS.c.slot == slot)
            .values(finished_at=datetime.now(UTC), requests_deleted=result.requests_deleted)
        )
    return result


async def maintain_forever(engine: Engine, settings: Settings) -> None:
    """Apply the retention once per interval (in one process of the deployment)."""
    while True:
        try:
            result = await asyncio.to_thread(maintain_once, engine, settings, datetime.now(UTC))
            if result is not None and result.requests_deleted:
                log.info(
                    "maintenance: deleted %d requests older than %s",
                    result.requests_deleted,
                    result.cutoff,
                )
        except Exception as exc:
            log.warning("maintenance: retention failed: %s", exc)
        await asyncio.sleep(settings.maintenance_interval_s)
