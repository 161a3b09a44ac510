"""The shell of anomaly detection: read the rollups, judge every member, explain the unusual."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from collector.anomaly._cache import HistoryCache, read_recent
from collector.anomaly._contrib import Contributors, top_contributors
from collector.anomaly._detect import AnomalyParams, Verdict, assess, could_be_unusual
from collector.anomaly._spend import (
    HOUR,
    Split,
    Windows,
    WindowSpend,
    member_scopes,
    money,
    read_spend,
)
from collector.anomaly._spend import windows as make_windows
from collector.budgets import Scope
from collector.db.types import money_to_sql


@dataclass(frozen=True, slots=True)
class Finding:
    """One member's unusual window: what it spent, what was expected, and who spent it."""

    member: Scope | None  # None: the rule's whole scope
    start: datetime
    end: datetime  # exclusive; ``now`` for a window that ends with the current hour
    complete: bool  # False: the current hour is still running (its spend can only grow)
    verdict: Verdict
    contributors: Contributors


@dataclass(frozen=True, slots=True)
class Watch:
    """What one rule watches: a scope, maybe split into members, over windows of ``hours``."""

    scope: Scope
    split: Split | None
    hours: int
    weeks: int
    params: AnomalyParams
    top: int = 5


def _judge(
    conn: Connection, spend: WindowSpend, wins: Windows, params: AnomalyParams, now: datetime
) -> tuple[Verdict, datetime, datetime, bool] | None:
    """The complete window's verdict if unusual, else the current window's if unusual."""
    least = money_to_sql(params.min_usd, conn.dialect.name)
    for stored, other, hours, complete in (
        (spend.complete, spend.current, wins.complete, True),
        (spend.current, spend.complete, wins.current, False),
    ):  # the other window is one hour later (earlier): its earlier weeks pool into the MAD
        if not could_be_unusual(stored[0], stored[1:], least, params):
            continue
        usd = [money(conn, v) for v in stored]
        near = [money(conn, v) for v in other[1:]] if params.scale == "pooled" else []
        verdict = assess(usd[0], usd[1:], params, near)
        if verdict.unusual:
            end = hours[-1] + HOUR if complete else now
            return verdict, hours[0], end, complete
    return None


def find_unusual(
    engine: Engine, watch: Watch, now: datetime, cache: HistoryCache | None = None
) -> list[Finding]:
    """Every member of the watched scope whose recent spend is unusual at ``now``; with
    ``cache``, earlier weeks already read for the same windows are not read again."""
    wins = make_windows(now, watch.hours, watch.weeks)
    with engine.connect() as conn:
        if cache is None:
            spend = read_spend(conn, watch.scope, watch.split, wins)
        else:
            spend = read_recent(conn, watch.scope, watch.split, wins, cache)
        judged = {
            m: j for m, sums in spend.items() if (j := _judge(conn, sums, wins, watch.params, now))
        }
        scopes = member_scopes(conn, watch.split, judged)
        found = []
        for member, (verdict, start, end, complete) in sorted(judged.items()):
            contributors = top_contributors(
                conn, watch.scope, watch.split, member, start, end, watch.top
            )
            found.append(Finding(scopes[member], start, end, complete, verdict, contributors))
    return found
