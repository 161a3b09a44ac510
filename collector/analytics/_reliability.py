"""Error budget, burn rate and retries from the rollups; the error breakdown from the error
rollups (daily for whole days, hourly for whole hours) and requests (the partial hours at
the range's edges)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Row, func, select

from collector.analytics import slo
from collector.analytics._frames import frame
from collector.analytics._model import NONE_LABEL, Bucket, Filters, UnsupportedFilterError
from collector.analytics._sql import (
    ERRORS,
    REQUESTS,
    ZERO,
    grouped,
    label,
    request_where,
    whole_hours,
)
from collector.db.models import Project

RELIABILITY_COLUMNS = (
    "ts", "project", "requests", "eligible", "bad", "error_budget_remaining", "burn_rate",
    "retried", "rescued", "retry_success_rate", "attempts_per_success",
    "failed_attempt_cost_usd",
)  # fmt: skip
BUDGET_COLUMNS = (
    "project", "slo_target", "window_days", "eligible", "bad", "remaining", "burn_rate",
)  # fmt: skip
_RATIOS = ("error_budget_remaining", "burn_rate", "retry_success_rate", "attempts_per_success")
ERROR_COLUMNS = ("outcome", "error_type", "http_status", "model", "requests")
NON_SUCCESS = ("client_error", "upstream_error", "timeout", "cancelled", "blocked")


@dataclass(slots=True)
class _Tally:
    """Counters of one (bucket, project) cell, summed over outcomes."""

    by_outcome: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    retried: int = 0
    rescued: int = 0
    attempts: int = 0
    failed_cost: Decimal = ZERO

    def add(self, outcome: str, row: Sequence[Any]) -> None:
        requests, retried, rescued, attempts, failed_cost = row
        self.by_outcome[outcome] += int(requests or 0)
        self.retried += int(retried or 0)
        self.rescued += int(rescued or 0)
        self.attempts += int(attempts or 0)
        self.failed_cost += failed_cost if failed_cost is not None else ZERO


def slo_targets(engine: Engine) -> dict[int, tuple[str, Decimal, int]]:
    """Project id → (name, SLO target, window days)."""
    query = select(Project.id, Project.name, Project.slo_target, Project.slo_window_days)
    with engine.connect() as conn:
        rows = conn.execute(query)
        return {int(i): (str(n), Decimal(t), int(w)) for i, n, t, w in rows}


def _target_of(targets: dict[int, tuple[str, Decimal, int]], pid: int) -> tuple[str, Decimal]:
    name, target, _ = targets.get(pid, (label(pid), slo.DEFAULT_SLO, 30))
    return (NONE_LABEL if pid == 0 else name), target


_COUNTERS = ("requests", "retried_requests", "retry_rescued", "attempts", "failed_attempt_cost_usd")


def reliability(engine: Engine, f: Filters, bucket: Bucket) -> pd.DataFrame:
    """Error budget, burn rate and retry figures per time bucket and project.

    Columns: ``ts``, ``project`` (name), ``requests``, ``eligible``, ``bad``,
    ``error_budget_remaining`` and ``burn_rate`` (floats of the exact docs/design.md ratios
    within the bucket, against the project's SLO target; NaN when nothing was eligible),
    ``retried``, ``rescued``, ``retry_success_rate``, ``attempts_per_success``,
    ``failed_attempt_cost_usd`` (Decimal). Tag filters are not supported.
    """
    if f.tags:
        raise UnsupportedFilterError("reliability cannot be filtered by tag")
    cells: dict[tuple[datetime, int], _Tally] = defaultdict(_Tally)
    with engine.connect() as conn:
        sums = grouped(conn, f, ("project_id", "outcome"), _COUNTERS, bucket=bucket)
    for (ts, pid, outcome), values in sums.items():
        cells[(ts, int(pid))].add(str(outcome), values)
    targets = slo_targets(engine)
    rows = [
        _reliability_row(t, *_target_of(targets, pid), cell) for (t, pid), cell in cells.items()
    ]
    rows.sort(key=lambda r: (r[0], r[1]))
    return frame(rows, RELIABILITY_COLUMNS, floats=_RATIOS)


def _reliability_row(ts: datetime, name: str, target: Decimal, cell: _Tally) -> tuple[Any, ...]:
    counts = slo.slo_counts(cell.by_outcome)
    return (
        ts,
        name,
        sum(cell.by_outcome.values()),
        counts.eligible,
        counts.bad,
        slo.as_float(slo.error_budget_remaining(counts, target)),
        slo.as_float(slo.burn_rate(counts, target)),
        cell.retried,
        cell.rescued,
        slo.as_float(slo.retry_success_rate(cell.retried, cell.rescued)),
        slo.as_float(slo.attempts_per_success(cell.attempts, cell.by_outcome.get("success", 0))),
        cell.failed_cost,
    )


def outcome_counts(
    engine: Engine, f: Filters, start: datetime, end: datetime
) -> dict[int, dict[str, int]]:
    """Requests per project and outcome over [start, end) (whole hours), ``f``'s dimensions."""
    dims = Filters(start, end, f.project_ids, f.api_key_ids, f.end_users, f.models)
    out: dict[int, dict[str, int]] = defaultdict(dict)
    with engine.connect() as conn:
        sums = grouped(conn, dims, ("project_id", "outcome"), ("requests",))
    for (pid, outcome), (n,) in sums.items():
        out[int(pid)][str(outcome)] = int(n or 0)
    return out


def error_budget_by_project(engine: Engine, f: Filters, now: datetime) -> pd.DataFrame:
    """Each project's error budget over its own SLO window ending at ``now``.

    The window is ``slo_window_days`` (whole hours, ending with ``now``'s hour); ``f``
    contributes its dimensions only, not its time range. Columns: ``project``,
    ``slo_target`` (Decimal), ``window_days``, ``eligible``, ``bad``, ``remaining``,
    ``burn_rate`` (floats; NaN when nothing was eligible). Projects with no traffic are
    listed too; requests without a project appear as "(none)" when there are any.
    """
    if f.tags:
        raise UnsupportedFilterError("the error budget cannot be filtered by tag")
    targets = slo_targets(engine)
    if f.project_ids:
        targets = {pid: t for pid, t in targets.items() if pid in f.project_ids}
    rows = []
    for days in sorted({w for _, _, w in targets.values()} | {30}):
        counts = outcome_counts(engine, f, now - timedelta(days=days), now)
        pids = [p for p, (_, _, w) in targets.items() if w == days]
        if days == 30 and 0 in counts and not f.project_ids:
            pids.append(0)
        rows += [_budget_row(*_target_of(targets, p), days, counts.get(p, {})) for p in pids]
    rows.sort(key=lambda r: (r[0] == NONE_LABEL, r[0]))
    return frame(rows, BUDGET_COLUMNS, floats=("remaining", "burn_rate"))


def _budget_row(
    name: str, target: Decimal, days: int, by_outcome: dict[str, int]
) -> tuple[Any, ...]:
    counts = slo.slo_counts(by_outcome)
    return (
        name,
        target,
        days,
        counts.eligible,
        counts.bad,
        slo.as_float(slo.error_budget_remaining(counts, target)),
        slo.as_float(slo.burn_rate(counts, target)),
    )


def errors_breakdown(
    engine: Engine, f: Filters, outcomes: Sequence[str] = NON_SUCCESS
) -> pd.DataFrame:
    """Failed requests by outcome, error type, HTTP status and model (exact range, detail).

    The whole UTC days inside the range come from ``daily_error_rollups``, the whole hours
    around them from ``hourly_error_rollups``, the partial hours at either edge from
    ``requests`` (through the (outcome, started_at) index), so the counts are exactly
    those of the raw rows in [start, end). With a tag filter (the error rollups have no
    tags) everything is read from ``requests``. Columns: ``outcome``, ``error_type`` (None
    when unknown), ``http_status`` (nullable Int64), ``model``, ``requests``; most frequent
    first, ties by outcome, error type, status (unknown last) and model.
    """
    unknown = set(outcomes) - set(NON_SUCCESS)
    if unknown or not outcomes:
        raise ValueError(f"outcomes must be some of {', '.join(NON_SUCCESS)}")
    wanted = tuple(outcomes)
    counts: dict[tuple[str, str | None, int | None, str], int] = defaultdict(int)
    whole, raw = whole_hours(f) if not f.tags else (None, [(f.start, f.end)])
    with engine.connect() as conn:
        parts: list[Iterable[Sequence[Any]]] = [
            _raw_errors(conn, replace(f, start=a, end=b), wanted) for a, b in raw
        ]
        if whole is not None:
            parts.append(_rollup_errors(conn, replace(f, start=whole[0], end=whole[1]), wanted))
        for part in parts:
            for outcome, error_type, status, model, n in part:
                key = (str(outcome), error_type or None, status or None, str(model or ""))
                counts[key] += int(n or 0)
    ordered = sorted(counts.items(), key=_error_order)
    rows = [(o, e, s, label(m), n) for (o, e, s, m), n in ordered]
    df = frame(rows, ERROR_COLUMNS)
    df["http_status"] = df["http_status"].astype("Int64")
    return df


def _error_order(item: tuple[tuple[str, str | None, int | None, str], int]) -> tuple[Any, ...]:
    (outcome, error_type, status, model), n = item
    return (-n, outcome, error_type is None, error_type or "", status is None, status or 0, model)


def _raw_errors(conn: Connection, f: Filters, outcomes: tuple[str, ...]) -> Iterable[Row[Any]]:
    r = REQUESTS.c
    model = func.coalesce(r.model_served, r.model_requested, "")
    keys = (r.outcome, r.error_type, r.http_status, model)
    query = select(*keys, func.count()).where(r.outcome.in_(outcomes), *request_where(f))
    return conn.execute(query.group_by(*keys))


def _rollup_errors(
    conn: Connection, f: Filters, outcomes: tuple[str, ...]
) -> Iterable[tuple[Any, ...]]:
    """Whole hours of ``f`` (whole days from the daily copy), grouped per error and model."""
    keys = ("outcome", "error_type", "http_status", "model")
    sums = grouped(
        conn, f, keys, ("requests",), table=ERRORS, where=lambda t: [t.c.outcome.in_(outcomes)]
    )
    return [(*key, n) for key, (n,) in sums.items()]
