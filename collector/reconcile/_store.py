"""Writing OpenAI's bill: a fetched range replaces its days exactly, in one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import date, datetime

from sqlalchemy import Engine, delete, insert

from collector.db.base import table_of
from collector.db.bills import BillDay, BillLine
from collector.reconcile._types import BillItem

_LINES, _DAYS = table_of(BillLine), table_of(BillDay)


def replace_days(
    engine: Engine, days: Iterable[date], items: Iterable[BillItem], now: datetime
) -> int:
    """Delete ``days``' lines and store ``items`` (all within ``days``); the number stored.

    One transaction: a reader sees the old day or the new one, never a mix, and a failure
    leaves the old lines in place.
    """
    wanted = sorted(set(days))
    rows = [asdict(i) | {"fetched_at": now} for i in items]
    if any(row["day"] not in wanted for row in rows):
        raise ValueError("a bill line lies outside the days it replaces")
    with engine.begin() as conn:
        conn.execute(delete(_LINES).where(_LINES.c.day.in_(wanted)))
        conn.execute(delete(_DAYS).where(_DAYS.c.day.in_(wanted)))
        if rows:
            conn.execute(insert(_LINES), rows)
        conn.execute(insert(_DAYS), [{"day": d, "fetched_at": now} for d in wanted])
    return len(rows)
