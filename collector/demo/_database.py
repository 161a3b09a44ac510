"""The demo's SQLite database: made fresh on every run, read back for progress and checks.

A run starts from an empty database so that the history, budgets and alerts are the ones
described; an existing file is replaced only when it is recognisably a demo database (its
projects are the demo's), never a database someone cares about.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, func, inspect, select

from collector.alerts import list_events
from collector.db import AlertEvent, Project, Request, make_engine, upgrade_head
from collector.demo._console import Recorded
from collector.demo._procs import DemoError
from collector.demo._stack import Paths
from collector.demo._world import PROJECTS


def is_demo_database(db: Path) -> bool:
    """True for an empty file or one whose projects are all the demo's."""
    if db.stat().st_size == 0:
        return True
    engine = make_engine(f"sqlite:///{db}")
    try:
        if not inspect(engine).has_table("projects"):
            return False
        with engine.connect() as conn:
            names = set(conn.scalars(select(Project.name)))
        return names <= set(PROJECTS)
    except Exception:  # not SQLite at all, or unreadable: not ours to delete
        return False
    finally:
        engine.dispose()


def prepare_database(paths: Paths) -> None:
    """Remove a previous demo run's files, then create the schema (``upgrade_head``)."""
    if paths.db.exists():
        if not is_demo_database(paths.db):
            raise DemoError(
                f"{paths.db} exists and is not a spendscope demo database; "
                "refusing to replace it (choose another file with --db)"
            )
        for path in (paths.db, Path(f"{paths.db}-wal"), Path(f"{paths.db}-shm"), paths.alerts):
            path.unlink(missing_ok=True)
    shutil.rmtree(paths.spool, ignore_errors=True)
    paths.db.parent.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    upgrade_head(paths.url)


def recorded_since(engine: Engine, since: datetime) -> Recorded:
    """Rows recorded since ``since`` (the live traffic), their spend, and alerts fired."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Request.cost_usd, Request.attempt_count).where(Request.started_at >= since)
        ).all()
        alerts = conn.scalar(select(func.count()).select_from(AlertEvent)) or 0
    last = list_events(engine, limit=1) if alerts else []
    spend = sum((cost for cost, _ in rows if cost is not None), Decimal(0))
    return Recorded(
        rows=len(rows),
        spend_usd=spend,
        retried=sum(1 for _, attempts in rows if attempts > 1),
        alerts=alerts,
        last_alert=last[0].message if last else "",
    )
