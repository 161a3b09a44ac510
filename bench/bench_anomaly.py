"""Unusual-spend detection: recall and false alerts on a generated year, and the time one
evaluation takes for 10,000 scopes over the rollups (SQLite, PostgreSQL).

Run: .venv/bin/python bench/bench_anomaly.py [--scopes 200] [--seed 7] [--eval-scopes 10000]
     [--pg URL] [--skip-db]

Quality. A year (52 weeks) of hourly spend for each scope: requests arrive as a Poisson
process whose rate follows a daily rhythm (working hours, quiet nights, quieter weekends, the
scope's own time zone), a day-to-day level (lognormal, σ 0.15) and a slow trend over the year;
each request costs a lognormally distributed amount. Planted in each scope after the first
``weeks``: spikes of 2×, 5× and 20× the hour's expected spend, single-hour and sustained
(6 hours), two of each. The detector runs as the evaluator would at every hour (the last
complete hour against the same hour of the earlier weeks); one alert is a run of consecutive
unusual hours (it stays firing, it is not re-sent). A spike is caught when an alert overlaps
it; an alert overlapping no spike is false. "Reportable" spikes add at least what the rule's
absolute floors let it report (max(min_usd, sensitivity × floor_usd): $1.50 with the
defaults); a smaller one is below them by design, so cents do not page anyone.

Timing. The hourly rollup table is seeded directly (one row per key and hour for 00:00-05:00
of the evaluation day in this and each earlier week; the one place a bench writes rollup rows), and
``find_unusual`` runs for a rule of scope global per key: one query, every key judged, the
requests and users fetched for the unusual ones (10 planted). Median of 5 runs after one.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, and_, create_engine, func, insert, or_, select, text

from collector.anomaly import (
    CENTERS,
    DEFAULT_WEEKS,
    AnomalyParams,
    Split,
    Watch,
    Windows,
    assess,
    find_unusual,
    read_spend,
    windows,
)
from collector.budgets import ScopeKind, parse_scope
from collector.db import make_engine, upgrade_head
from collector.db.models import hourly_rollups

HOURS_PER_WEEK = 168
YEAR_WEEKS = 52
FACTORS = (2, 5, 20)
LENGTHS = {"single hour": 1, "sustained 6 h": 6}
PER_TYPE = 2  # spikes of each factor × length, per scope
EVAL_NOW = datetime(2026, 11, 10, 3, 10, tzinfo=UTC)
SEEDED_HOURS = 6  # 00:00-05:00 of the evaluation day and the same hours of earlier weeks


@dataclass(frozen=True, slots=True)
class Spike:
    start: int
    hours: int
    factor: int
    added_usd: float


def _expected(rng: np.random.Generator, hours: int) -> np.ndarray:
    """One scope's expected spend per hour: its level, daily rhythm, weekends, day-to-day
    level and trend."""
    level = float(np.clip(rng.lognormal(math.log(3.0), 1.0), 0.3, 300))
    shift = int(rng.integers(0, 24))
    t = np.arange(hours)
    hour_of_day = (t + shift) % 24
    day = (t + shift) // 24
    rhythm = np.where((hour_of_day >= 8) & (hour_of_day < 19), 1.0, rng.uniform(0.1, 0.4))
    weekend = np.where(day % 7 >= 5, rng.uniform(0.3, 0.8), 1.0)
    daily = rng.lognormal(0.0, 0.15, size=day.max() + 1)[day]
    trend = np.linspace(1.0, rng.uniform(0.7, 1.5), hours)
    return level * rhythm * weekend * daily * trend


def _spend(rng: np.random.Generator, expected: np.ndarray) -> np.ndarray:
    """Realised spend: Poisson request counts times lognormal request costs."""
    mean_cost = float(rng.uniform(0.005, 0.2))
    counts = rng.poisson(expected / mean_cost)
    sigma = 0.8  # per-request cost spread; the sum of n costs has mean n × mean_cost
    mu = math.log(mean_cost) - sigma**2 / 2
    totals = np.array([rng.lognormal(mu, sigma, n).sum() if n else 0.0 for n in counts])
    return totals


def _plant(rng: np.random.Generator, expected: np.ndarray, spend: np.ndarray,
           first: int) -> list[Spike]:  # fmt: skip
    spikes: list[Spike] = []
    taken = np.zeros(len(spend), dtype=bool)
    for factor in FACTORS:
        for hours in LENGTHS.values():
            for _ in range(PER_TYPE):
                while True:
                    start = int(rng.integers(first, len(spend) - hours - 1))
                    if not taken[max(0, start - 24) : start + hours + 24].any():
                        break
                taken[start : start + hours] = True
                added = expected[start : start + hours] * (factor - 1)
                spend[start : start + hours] += added
                spikes.append(Spike(start, hours, factor, float(added.min())))
    return spikes


def _alerts(flags: list[bool], first: int) -> list[tuple[int, int]]:
    """Runs [start, end) of consecutive unusual hours: one alert each."""
    runs, start = [], None
    for i, flag in enumerate(flags, start=first):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, first + len(flags)))
    return runs


def _detect(spend: list[Decimal], weeks: int, params: AnomalyParams) -> list[bool]:
    first = weeks * HOURS_PER_WEEK
    flags = []
    for t in range(first, len(spend)):
        history = [spend[t - k * HOURS_PER_WEEK] for k in range(1, weeks + 1)]
        flags.append(assess(spend[t], history, params).unusual)
    return flags


@dataclass
class Tally:
    caught: dict[tuple[int, str], list[int]]
    reportable: dict[tuple[int, str], list[int]]
    false_alerts: int = 0
    scope_weeks: float = 0.0


def _score(tally: Tally, spikes: list[Spike], alerts: list[tuple[int, int]],
           min_usd: float) -> None:  # fmt: skip
    for alert_start, alert_end in alerts:
        if not any(s.start < alert_end and alert_start < s.start + s.hours for s in spikes):
            tally.false_alerts += 1
    for s in spikes:
        hit = any(a < s.start + s.hours and s.start < b for a, b in alerts)
        label = next(k for k, v in LENGTHS.items() if v == s.hours)
        tally.caught.setdefault((s.factor, label), [0, 0])
        tally.caught[(s.factor, label)][0] += hit
        tally.caught[(s.factor, label)][1] += 1
        if s.added_usd >= min_usd:
            tally.reportable.setdefault((s.factor, label), [0, 0])
            tally.reportable[(s.factor, label)][0] += hit
            tally.reportable[(s.factor, label)][1] += 1


def quality(scopes: int, seed: int, weeks: int, params: AnomalyParams) -> Tally:
    rng = np.random.default_rng(seed)
    hours = YEAR_WEEKS * HOURS_PER_WEEK
    tally = Tally({}, {})
    first = weeks * HOURS_PER_WEEK
    smallest = params.sensitivity * params.floor_usd
    for _ in range(scopes):
        expected = _expected(rng, hours)
        spend = _spend(rng, expected)
        spikes = _plant(rng, expected, spend, first)
        exact = [Decimal(f"{x:.6f}") for x in spend]
        alerts = _alerts(_detect(exact, weeks, params), first)
        _score(tally, spikes, alerts, float(max(params.min_usd, smallest)))
        tally.scope_weeks += (hours - first) / HOURS_PER_WEEK
    return tally


def _pct(pair: list[int] | None) -> str:
    if not pair or not pair[1]:
        return "–"
    return f"{100 * pair[0] / pair[1]:.1f} % ({pair[0]}/{pair[1]})"


def quality_table(tally: Tally, title: str) -> Table:
    table = Table("spike", "length", "recall, reportable spikes", "recall, all spikes", title=title)
    for factor in FACTORS:
        for label in LENGTHS:
            key = (factor, label)
            table.add_row(f"{factor}×", label, _pct(tally.reportable.get(key)),
                          _pct(tally.caught.get(key)))  # fmt: skip
    per_week = tally.false_alerts / tally.scope_weeks
    table.add_row("false alerts", "", f"{per_week:.4f} / scope / week",
                  f"{per_week * 365.25 / 12 / 7:.3f} / scope / month")  # fmt: skip
    return table


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
    dialect = engine.dialect.name
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
        if dialect == "postgresql":
            conn.execute(text("ANALYZE hourly_rollups"))
    return rows


def _scan(engine: Engine, wins: Windows) -> float:
    """Seconds to merely sum the rows the evaluation reads: the floor any query pays here."""
    c = hourly_rollups.c
    spans = or_(*(and_(c.hour >= a, c.hour <= b) for a, b in wins.spans()))
    start = time.perf_counter()
    with engine.connect() as conn:
        conn.execute(select(func.count(), func.sum(c.requests)).where(spans)).one()
    return time.perf_counter() - start


def timing(
    url: str, keys: int, weeks: int
) -> tuple[int, list[float], list[float], list[float], int]:
    """Rows seeded; seconds of find_unusual, of its query alone and of a bare scan of the same
    rows (5 runs each, interleaved); unusual keys found, over ``keys`` keys."""
    upgrade_head(url)
    engine = make_engine(url)
    rows = _seed(engine, keys, weeks)
    watch = Watch(parse_scope("global"), Split(ScopeKind.KEY), 1, weeks, AnomalyParams())
    found = find_unusual(engine, watch, EVAL_NOW)
    times, query, scan = [], [], []
    wins = windows(EVAL_NOW, 1, weeks)
    for _ in range(5):
        scan.append(_scan(engine, wins))
        start = time.perf_counter()
        find_unusual(engine, watch, EVAL_NOW)
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        with engine.connect() as conn:
            read_spend(conn, watch.scope, watch.split, wins)
        query.append(time.perf_counter() - start)
    engine.dispose()
    return rows, times, query, scan, len(found)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _pg(url: str) -> tuple[str, Callable[[], None]]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with create_engine(url).begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with create_engine(url).begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))

    return f"{url}?options=-csearch_path%3D{schema}", drop


def main() -> None:
    default = AnomalyParams()
    parser = argparse.ArgumentParser()
    parser.add_argument("--scopes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--weeks", type=int, default=DEFAULT_WEEKS)
    parser.add_argument("--sensitivity", default=str(default.sensitivity))
    parser.add_argument("--floor-pct", default=str(default.floor_pct))
    parser.add_argument("--min-usd", default=str(default.min_usd))
    parser.add_argument("--floor-usd", default=str(default.floor_usd))
    parser.add_argument("--center", choices=CENTERS, default=default.center)
    parser.add_argument("--eval-scopes", type=int, default=10_000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-db", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    console = Console()
    console.print(f"load average at start: {os.getloadavg()}")
    params = AnomalyParams(
        sensitivity=Decimal(args.sensitivity), min_usd=Decimal(args.min_usd),
        floor_pct=Decimal(args.floor_pct), floor_usd=Decimal(args.floor_usd), center=args.center,
    )  # fmt: skip
    if not args.skip_quality:
        _quality_report(console, args, params)
    if not args.skip_db:
        _timing_report(console, args)
    console.print(f"load average at end: {os.getloadavg()}")


def _quality_report(console: Console, args: argparse.Namespace, params: AnomalyParams) -> None:
    start = time.perf_counter()
    tally = quality(args.scopes, args.seed, args.weeks, params)
    took = time.perf_counter() - start
    title = (f"{args.scopes} scopes × 52 weeks, seed {args.seed}, baseline {args.weeks} weeks "
             f"({args.center}), sensitivity {args.sensitivity}, floor {args.floor_pct} % or "
             f"${args.floor_usd}, min_usd {args.min_usd} ({took:.0f} s)")  # fmt: skip
    console.print(quality_table(tally, title))


def _timing_report(console: Console, args: argparse.Namespace) -> None:
    table = Table("database", "rollup rows", "keys", "unusual found", "evaluation p50",
                  "evaluation max", "its query p50", "bare scan p50",
                  title=f"one evaluation, scope global per key, {args.weeks} weeks")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("SQLite", f"sqlite:///{Path(tmp) / 'a.db'}", None)]
        pg_url, drop = _pg(args.pg)
        targets.append(("PostgreSQL", pg_url, drop))
        for name, url, cleanup in targets:
            try:
                rows, times, query, scan, found = timing(url, args.eval_scopes, args.weeks)
            finally:
                if cleanup:
                    cleanup()
            table.add_row(name, f"{rows:,}", f"{args.eval_scopes:,}", str(found),
                          _ms(statistics.median(times)), _ms(max(times)),
                          _ms(statistics.median(query)), _ms(statistics.median(scan)))  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
