"""Unusual-spend detection: recall and false alerts on a generated year, and the time one
evaluation takes for 10,000 scopes over the rollups (SQLite, PostgreSQL).

Run: .venv/bin/python bench/bench_anomaly.py [--scopes 200] [--seed 7] [--eval-scopes 10000]
     [--pg URL] [--skip-db] [--scale pooled|mad]

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

Timing: see ``_anomaly_timing.py`` (cold, first run of an hour and warm evaluations of 10,000
keys; wall and CPU seconds).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
from _anomaly_timing import CASES, timing  # a sibling module, not a package
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from collector.anomaly import CENTERS, DEFAULT_WEEKS, SCALES, AnomalyParams, assess

HOURS_PER_WEEK = 168
YEAR_WEEKS = 52
FACTORS = (2, 5, 20)
LENGTHS = {"single hour": 1, "sustained 6 h": 6}
PER_TYPE = 2  # spikes of each factor × length, per scope


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
    expected: np.ndarray = level * rhythm * weekend * daily * trend
    return expected


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
    """Each hour judged as the evaluator judges its last complete hour: against the same hour
    of earlier weeks, pooled with the next hour of those weeks (the running window's)."""
    first = weeks * HOURS_PER_WEEK
    flags = []
    for t in range(first, len(spend)):
        history = [spend[t - k * HOURS_PER_WEEK] for k in range(1, weeks + 1)]
        neighbour = [spend[t + 1 - k * HOURS_PER_WEEK] for k in range(1, weeks + 1)]
        flags.append(assess(spend[t], history, params, neighbour).unusual)
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
    parser.add_argument("--scale", choices=SCALES, default=default.scale)
    parser.add_argument("--eval-scopes", type=int, default=10_000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-db", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    console = Console(width=160)
    console.print(f"load average at start: {os.getloadavg()}")
    params = AnomalyParams(
        sensitivity=Decimal(args.sensitivity), min_usd=Decimal(args.min_usd),
        floor_pct=Decimal(args.floor_pct), floor_usd=Decimal(args.floor_usd), center=args.center,
        scale=args.scale,
    )  # fmt: skip
    if not args.skip_quality:
        _quality_report(console, args, params)
    if not args.skip_db:
        _timing_report(console, args, params)
    console.print(f"load average at end: {os.getloadavg()}")


def _quality_report(console: Console, args: argparse.Namespace, params: AnomalyParams) -> None:
    start = time.perf_counter()
    tally = quality(args.scopes, args.seed, args.weeks, params)
    took = time.perf_counter() - start
    title = (f"{args.scopes} scopes × 52 weeks, seed {args.seed}, baseline {args.weeks} weeks "
             f"({args.center}, {args.scale} MAD), sensitivity {args.sensitivity}, "
             f"floor {args.floor_pct} % or "
             f"${args.floor_usd}, min_usd {args.min_usd} ({took:.0f} s)")  # fmt: skip
    console.print(quality_table(tally, title))


def _timing_report(console: Console, args: argparse.Namespace, params: AnomalyParams) -> None:
    table = Table("database", "rollup rows", "keys", "unusual found",
                  *(f"{case}: wall / CPU" for case in CASES),
                  title=f"one evaluation, scope global per key, {args.weeks} weeks, "
                        f"{params.scale} MAD (median of 5)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        targets: list[tuple[str, str, Callable[[], None] | None]] = [
            ("SQLite", f"sqlite:///{Path(tmp) / 'a.db'}", None)
        ]
        pg_url, drop = _pg(args.pg)
        targets.append(("PostgreSQL", pg_url, drop))
        for name, url, cleanup in targets:
            try:
                got = timing(url, args.eval_scopes, args.weeks, params)
            finally:
                if cleanup:
                    cleanup()
            table.add_row(name, f"{got.rows:,}", f"{args.eval_scopes:,}", str(got.found),
                          *(f"{_ms(got.wall[c])} / {_ms(got.cpu[c])}" for c in CASES))  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
