"""Hourly spend of every member of a scope, read from the rollups in one query.

An evaluation at ``now`` reads two windows of ``hours`` hours each: the last complete hours
(``complete``) and the hours ending with the current, still growing one (``current``: its
spend can only rise, so above the band it is already unusual). Each is compared with the
same hours in each of ``weeks`` earlier weeks. The query reads those hours only, by the
rollups' leading ``hour`` key, grouped by member: one statement however many members.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Numeric,
    Table,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.types import TypeEngine

from collector.budgets import Scope, ScopeKind, rollup_scope_filter
from collector.db.models import (
    ApiKey,
    Project,
    hourly_project_rollups,
    hourly_rollups,
    hourly_tag_rollups,
)
from collector.db.types import MONEY_SCALE, Money

HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)
_ZERO = Decimal(0)
_MONEY = Money()


@dataclass(frozen=True, slots=True)
class Split:
    """Judge each member of the scope on its own: per project, key, user, model or tag KEY."""

    kind: ScopeKind
    tag_key: str | None = None  # for ``tag:KEY``: every value of that tag

    def __str__(self) -> str:
        return f"tag:{self.tag_key}" if self.kind is ScopeKind.TAG else self.kind.value


@dataclass(frozen=True, slots=True)
class Windows:
    """The hours (starts of hourly buckets) an evaluation compares, newest last."""

    complete: tuple[datetime, ...]
    current: tuple[datetime, ...]
    weeks: int

    def spans(self) -> list[tuple[datetime, datetime]]:
        """[first, last] hour of this week's and each earlier week's windows."""
        first, last = self.complete[0], self.current[-1]
        return [(first - k * WEEK, last - k * WEEK) for k in range(self.weeks + 1)]

    def bounds(self, hours: tuple[datetime, ...]) -> list[tuple[datetime, datetime]]:
        """[first, last] hour of one window this week (first) and in each earlier week."""
        return [(hours[0] - k * WEEK, hours[-1] - k * WEEK) for k in range(self.weeks + 1)]


@dataclass(frozen=True, slots=True)
class WindowSpend:
    """One member's spend in each week's windows, this week first, as stored (see ``money``)."""

    complete: tuple[Any, ...]
    current: tuple[Any, ...]


def windows(now: datetime, hours: int, weeks: int) -> Windows:
    """The windows of ``hours`` hours at ``now`` (aware), against ``weeks`` earlier weeks."""
    current_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    current = tuple(current_hour - (hours - 1 - i) * HOUR for i in range(hours))
    return Windows(tuple(h - HOUR for h in current), current, weeks)


def _source(scope: Scope, split: Split | None) -> Table:
    """The smallest rollup that holds both the scope's and the split's columns."""
    kinds = {scope.kind, split.kind if split else scope.kind}
    if ScopeKind.TAG in kinds:
        return hourly_tag_rollups
    if kinds & {ScopeKind.KEY, ScopeKind.USER}:
        return hourly_rollups
    return hourly_project_rollups


_SPLIT_COLUMNS = {
    ScopeKind.PROJECT: "project_id", ScopeKind.KEY: "api_key_id", ScopeKind.USER: "end_user",
    ScopeKind.MODEL: "model", ScopeKind.TAG: "tag",
}  # fmt: skip


def _member(
    table: Table, split: Split | None
) -> tuple[ColumnElement[Any], list[ColumnElement[bool]]]:
    """The member column of the split and the clauses that drop 'none' (0 / '') members."""
    if split is None:
        return literal(""), []
    column: Column[Any] = table.c[_SPLIT_COLUMNS[split.kind]]
    if split.kind is ScopeKind.TAG:
        return column, [column.startswith(f"{split.tag_key}=", autoescape=True)]
    none = 0 if split.kind in (ScopeKind.PROJECT, ScopeKind.KEY) else ""
    return column, [column != none]


def _between(hour: Column[Any], first: datetime, last: datetime) -> ColumnElement[bool]:
    return hour == first if first == last else and_(hour >= first, hour <= last)


def _stored(conn: Connection) -> TypeEngine[Any]:
    """Money as the database holds it (integer 1e-10 USD on SQLite, NUMERIC on PostgreSQL):
    summed and compared without a conversion a row; :func:`money` converts what is kept."""
    return BigInteger() if conn.dialect.name == "sqlite" else Numeric(20, MONEY_SCALE)


def money(conn: Connection, stored: Any) -> Decimal:
    """A stored amount as exact USD."""
    return _MONEY.process_result_value(stored, conn.dialect) or _ZERO


def _merged(ranges: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """The ranges joined where they overlap or touch: the hours the query reads."""
    out: list[tuple[datetime, datetime]] = []
    for first, last in sorted(ranges):
        if out and first <= out[-1][1] + HOUR:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def read_sums(
    conn: Connection, scope: Scope, split: Split | None, ranges: list[tuple[datetime, datetime]]
) -> dict[str, tuple[Any, ...]]:
    """Each member's (``''``: the whole scope's) spend, as stored, in each [first, last] hour
    range: one row per member with spend in any of them, the sums computed by the database."""
    table = _source(scope, split)
    c = table.c
    member, keep = _member(table, split)
    cost = type_coerce(c.cost_usd, _stored(conn))
    sums = [func.coalesce(func.sum(case((_between(c.hour, a, b), cost))), 0) for a, b in ranges]
    spans = or_(*(_between(c.hour, a, b) for a, b in _merged(ranges)))
    stmt = (
        select(member, *sums)
        .where(spans, rollup_scope_filter(scope, table), *keep)
        .group_by(member)
    )
    return {str(row[0]): tuple(row[1:]) for row in conn.execute(stmt)}


def read_spend(
    conn: Connection, scope: Scope, split: Split | None, wins: Windows
) -> dict[str, WindowSpend]:
    """Each member's (``''``: the whole scope's) spend in each week's windows: one row per
    member, the week sums computed by the database."""
    ranges = wins.bounds(wins.complete) + wins.bounds(wins.current)
    n = wins.weeks + 1
    return {m: WindowSpend(s[:n], s[n:]) for m, s in read_sums(conn, scope, split, ranges).items()}


def member_scopes(
    conn: Connection, split: Split | None, members: Iterable[str]
) -> dict[str, Scope | None]:
    """Each member as a scope (projects by name, keys by prefix); None for the whole scope."""
    wanted = list(members)
    if split is None:
        return dict.fromkeys(wanted)
    names: dict[str, str] = {m: m for m in wanted}
    if split.kind in (ScopeKind.PROJECT, ScopeKind.KEY):
        ids = [int(m) for m in wanted]
        if split.kind is ScopeKind.PROJECT:
            stmt = select(Project.id, Project.name).where(Project.id.in_(ids))
        else:
            stmt = select(ApiKey.id, ApiKey.prefix).where(ApiKey.id.in_(ids))
        names = {str(i): str(n) for i, n in conn.execute(stmt)} if ids else {}
    return {m: Scope(split.kind, names.get(m, f"#{m}")) for m in wanted}
