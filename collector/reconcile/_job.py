"""The daily reconciliation in the gateway: one process per UTC day re-fetches the last
``reconcile_days`` finished days (OpenAI finalises a day's costs within about a day).

Exactly one process runs a day's job: it inserts the day's ``reconcile_runs`` row (unique),
and only the process whose insert lands fetches. A failed run may be claimed again after
``RETRY_AFTER`` by a conditional UPDATE, which again only one process wins. The alert
evaluator, woken after a run, judges the stored bill (``reconciliation_drift``,
``unmetered_spend``). Runs only while an admin key is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, update
from sqlalchemy.dialects import postgresql, sqlite

from collector.db.base import table_of
from collector.db.bills import ReconcileRun
from collector.errors import ReconcileError
from collector.reconcile._run import admin_client, fetch_and_store
from collector.settings import Settings

_log = logging.getLogger("collector.reconcile")
_RUNS = table_of(ReconcileRun)
RUNNING, DONE, FAILED = "running", "done", "failed"
RETRY_AFTER = timedelta(hours=1)
CHECK_INTERVAL_S = 600.0


def claim_day(engine: Engine, day: date, now: datetime) -> bool:
    """True for exactly one caller per day (and per retry of a failed day)."""
    with engine.begin() as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(_RUNS).values(run_day=day, claimed_at=now, status=RUNNING)
        won = conn.execute(
            stmt.on_conflict_do_nothing(index_elements=["run_day"]).returning(_RUNS.c.run_day)
        ).scalar()
        if won is not None:
            return True
        retried = conn.execute(
            update(_RUNS)
            .where(
                _RUNS.c.run_day == day,
                _RUNS.c.status == FAILED,
                _RUNS.c.claimed_at < now - RETRY_AFTER,
            )
            .values(claimed_at=now, status=RUNNING, finished_at=None, message=None)
        )
        return retried.rowcount == 1


def finish_day(engine: Engine, day: date, now: datetime, error: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(_RUNS)
            .where(_RUNS.c.run_day == day)
            .values(finished_at=now, status=FAILED if error else DONE, message=error)
        )


class DailyReconciler:
    """Runs the day's reconciliation once across processes; ``run_once(now)`` for tests."""

    def __init__(
        self, engine: Engine, settings: Settings, on_done: Callable[[], None] | None = None
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._on_done = on_done

    @property
    def enabled(self) -> bool:
        key = self._settings.openai_admin_key
        return key is not None and bool(key.get_secret_value())

    async def run_forever(self, interval_s: float = CHECK_INTERVAL_S) -> None:
        while True:
            try:
                await self.run_once(datetime.now(UTC))
            except Exception:
                _log.exception("daily reconciliation failed; retrying later")
            await asyncio.sleep(interval_s)

    async def run_once(self, now: datetime) -> bool:
        """Fetch the finished days if this process wins today's claim; True when it ran."""
        if not self.enabled:
            return False
        today = now.astimezone(UTC).date()
        if not await asyncio.to_thread(claim_day, self._engine, today, now):
            return False
        start = today - timedelta(days=self._settings.reconcile_days)
        error: str | None = None
        try:
            await asyncio.to_thread(self._fetch, start, today - timedelta(days=1), now)
        except ReconcileError as exc:
            error = str(exc)
            _log.warning("daily reconciliation of %s..%s failed: %s", start, today, error)
        await asyncio.to_thread(finish_day, self._engine, today, datetime.now(UTC), error)
        if error is None and self._on_done is not None:
            self._on_done()
        return error is None

    def _fetch(self, start: date, end: date, now: datetime) -> None:
        with admin_client(self._settings) as client:
            fetch_and_store(self._engine, client, start, end, now)
