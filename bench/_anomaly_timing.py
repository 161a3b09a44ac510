"""bench_anomaly's timing half: one evaluation of 10,000 keys over seeded hourly rollups.

The hourly rollup table is seeded directly (one row per key and hour for 00:00-05:00 of the
evaluation day in this and each earlier week; the one place a bench writes rollup rows), and
``find_unusual`` runs for a rule of scope global per key: one query, every key judged, the
requests and users behind the unusual ones (10 planted) fetched. Three cases, as the
evaluator meets them: *cold* (no earlier weeks kept: a process's first run), *new hour* (the
first run of an hour: the complete window's earlier weeks were kept an hour ago, the running
window's are read) and *warm* (every later run of the hour: this week's hours only).

Time is wall and CPU: the process's (``resource.getrusage``; SQLite works in it) plus, on a
local PostgreSQL, the server backend's (``/proc/PID/stat`` of the one pooled connection).
Median of 5 runs after one.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, insert, text

from collector.anomaly import AnomalyParams, HistoryCache, Split, Watch, find_unusual
from collector.budgets import ScopeKind, parse_scope
from collector.db import make_engine, upgrade_head
from collector.db.models import hourly_rollups

EVAL_NOW = datetime(2026, 11, 10, 3, 10, tzinfo=UTC)
SEEDED_HOURS = 6  # 00:00-05:00 of the evaluation day and the same hours of earlier weeks
CASES = ("cold", "new hour", "warm")
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Timing:
    rows: int
    found: int
    wall: dict[str, float]  # case → median seconds
    cpu: dict[str, float]  # case → median CPU seconds (process + database backend)


def _rows(keys: int, weeks: int) -> Iterator[dict[str, object]]:
    rng = np.random.default_rng(1)
    day = EVAL_NOW.replace(hour=0, minute=0)
    levels = rng.lognormal(math.log(2.0), 1.0, keys)
    for k in range(weeks + 1):
        for h in range(SEEDED_HOURS):
            hour = day - timedelta(days=7 * k) + timedelta(hours=h)
            noise = rng.lognormal(0.0, 0.2, keys)
            for key in range(keys):
                cost = levels[key] * noise[key] * (20 if k == 0 and key < 10 else 1)
                yield {"hour": hour, "project_id": key % 50 + 1, "api_key_id": key + 1,
                       "end_user": "", "model": "gpt-4o-mini", "outcome": "success",
                       "requests": 10,
                       "cost_usd": Decimal(f"{cost:.6f}")}  # fmt: skip


def _seed(engine: Engine, keys: int, weeks: int) -> int:
    rows = 0
    batch: list[dict[str, object]] = []
    stmt = insert(hourly_rollups)
    with engine.begin() as conn:
        for row in _rows(keys, weeks):
            batch.append(row)
            if len(batch) == 20_000:
                conn.execute(stmt, batch)
                rows += len(batch)
                batch = []
        if batch:
            conn.execute(stmt, batch)
            rows += len(batch)
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE hourly_rollups"))
    return rows


def _cpu_clock(engine: Engine) -> Callable[[], float]:
    """CPU seconds of this process and, on a local PostgreSQL, of the connection's backend."""

    def own() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    if engine.dialect.name != "postgresql":
        return own
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return own

    def both() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return own() + (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime

    return both


def _primed(engine: Engine, watch: Watch, at: datetime) -> HistoryCache:
    cache = HistoryCache()
    find_unusual(engine, watch, at, cache)
    return cache


def timing(url: str, keys: int, weeks: int, params: AnomalyParams | None = None) -> Timing:
    """Rows seeded, unusual keys found, and each case's median wall and CPU seconds, for a
    rule of ``params`` (the defaults when None)."""
    upgrade_head(url)
    engine = make_engine(url, pool_size=1, max_overflow=0) if "postgresql" in url else (
        make_engine(url))  # fmt: skip
    rows = _seed(engine, keys, weeks)
    watch = Watch(parse_scope("global"), Split(ScopeKind.KEY), 1, weeks, params or AnomalyParams())
    found = find_unusual(engine, watch, EVAL_NOW)
    clock = _cpu_clock(engine)
    warm = _primed(engine, watch, EVAL_NOW - timedelta(minutes=5))
    wall: dict[str, list[float]] = {case: [] for case in CASES}
    cpu: dict[str, list[float]] = {case: [] for case in CASES}
    for _ in range(5):
        caches = {"cold": None, "new hour": _primed(engine, watch, EVAL_NOW - timedelta(hours=1)),
                  "warm": warm}  # fmt: skip
        for case in CASES:
            c0, t0 = clock(), time.perf_counter()
            assert len(find_unusual(engine, watch, EVAL_NOW, caches[case])) == len(found)
            wall[case].append(time.perf_counter() - t0)
            cpu[case].append(clock() - c0)
    engine.dispose()
    return Timing(
        rows, len(found),
        {c: statistics.median(v) for c, v in wall.items()},
        {c: statistics.median(v) for c, v in cpu.items()},
    )  # fmt: skip
