"""SQL building blocks shared by the queries: ranges, filters, buckets and display labels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Table,
    and_,
    func,
    or_,
    select,
    type_coerce,
)

from collector.analytics._model import NONE_LABEL, Bucket, Filters, UnsupportedFilterError
from collector.db.base import table_of
from collector.db.models import (
    ApiKey,
    Project,
    Request,
    daily_error_rollups,
    daily_project_rollups,
    daily_rollups,
    daily_tag_rollups,
    daily_tier_rollups,
    hourly_error_rollups,
    hourly_project_rollups,
    hourly_rollups,
    hourly_tag_rollups,
    hourly_tier_rollups,
)
from collector.db.types import UTCDateTime

ROLLUPS = hourly_rollups
TAGS = hourly_tag_rollups
ERRORS = hourly_error_rollups  # failed requests per hour and error (no tags, no money)
TIERS = hourly_tier_rollups  # batch / flex requests per hour (tokens and cost of priced ones)
PROJECTS = hourly_project_rollups  # ROLLUPS summed over keys and users (~2-4x fewer rows)
DAILY = {
    ROLLUPS: daily_rollups,
    PROJECTS: daily_project_rollups,
    TAGS: daily_tag_rollups,
    ERRORS: daily_error_rollups,
    TIERS: daily_tier_rollups,
}
REQUESTS = table_of(Request)
ZERO = Decimal("0E-10")
_TICK = timedelta(microseconds=1)
Span = tuple[datetime, datetime]


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def time_range(column: Column[Any], start: datetime, end: datetime) -> ColumnElement[bool]:
    """``start <= column < end``, written as ``start − 1µs < column <= end − 1µs``.

    Equal at microsecond resolution, but also right on SQLite when a writer stored a whole
    second as '…:05' instead of SQLAlchemy's '…:05.000000' (text comparison would put
    '…:05' before the bound '…:05.000000' and drop boundary rows).
    """
    return and_(column > start - _TICK, column <= end - _TICK)


def ceil_hour(moment: datetime) -> datetime:
    floor = floor_hour(moment)
    return floor if floor == moment else floor + timedelta(hours=1)


def whole_hours(f: Filters) -> tuple[Span | None, list[Span]]:
    """(the whole hours inside ``f``'s exact range, or None; the partial-hour edges left).

    For answers exact to the raw rows: rollups for the whole hours, ``requests`` for the rest.
    """
    lo, hi = ceil_hour(f.start), floor_hour(f.end)
    if lo >= hi:
        return None, [(f.start, f.end)]
    return (lo, hi), [(a, b) for a, b in ((f.start, lo), (hi, f.end)) if a < b]


def _ceil_day(moment: datetime) -> datetime:
    floor = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(days=1)


def time_column(table: Table) -> Column[Any]:
    """``hour`` of the hourly tables, ``day`` of their daily copies."""
    return table.c.hour if "hour" in table.c else table.c.day


def hour_range(table: Table, start: datetime, end: datetime) -> ColumnElement[bool]:
    """Rollup hours overlapping [start, end): whole hours, as Filters documents."""
    return time_range(time_column(table), floor_hour(start), end)


def source_for(f: Filters, *, group_by_tag: bool = False) -> Table:
    """The rollup table that can answer ``f``; tag rollups lack key and user columns."""
    if not (f.tags or group_by_tag):
        return ROLLUPS
    if f.api_key_ids or f.end_users:
        raise UnsupportedFilterError(
            "tags cannot be combined with key or user filters: tag rollups have no such columns"
        )
    return TAGS


_KEY_AND_USER = frozenset(("api_key_id", "end_user"))


def narrowest(table: Table, f: Filters, columns: Sequence[str]) -> Table:
    """The project rollups in place of the request rollups when neither ``f`` nor the query's
    ``columns`` need api key or end user: the same sums from fewer rows."""
    coarse = not (f.api_key_ids or f.end_users) and _KEY_AND_USER.isdisjoint(columns)
    if table is ROLLUPS and coarse:
        return PROJECTS
    return table


def dims_where(table: Table, f: Filters) -> list[ColumnElement[bool]]:
    """The dimension conditions of ``f`` on any rollup table (hourly or daily)."""
    conds: list[ColumnElement[bool]] = []
    if f.project_ids:
        conds.append(table.c.project_id.in_(f.project_ids))
    if f.models:
        conds.append(table.c.model.in_(f.models))
    if f.tags:
        conds.append(table.c.tag.in_(f.tags))
    if "api_key_id" in table.c:
        if f.api_key_ids:
            conds.append(table.c.api_key_id.in_(f.api_key_ids))
        if f.end_users:
            conds.append(table.c.end_user.in_(f.end_users))
    return conds


def rollup_where(table: Table, f: Filters) -> list[ColumnElement[bool]]:
    """The (whole-hour) range and dimension conditions of ``f`` on one rollup table."""
    return [hour_range(table, f.start, f.end), *dims_where(table, f)]


Sums = dict[tuple[Any, ...], list[Any]]


def _parts(f: Filters, table: Table, hourly: bool) -> list[tuple[Table, list[Span]]]:
    """Which table answers which part of ``f``'s whole-hour range.

    Whole UTC days come from the daily copy (24× fewer rows), the partial days at either
    end from the hourly table; ``hourly=True`` reads hours only (for hourly buckets).
    """
    lo, hi = floor_hour(f.start), ceil_hour(f.end)
    first_day, last_day = _ceil_day(lo), hi.replace(hour=0)
    if hourly or first_day >= last_day:
        return [(table, [(lo, hi)])]
    edges = [(a, b) for a, b in ((lo, first_day), (last_day, hi)) if a < b]
    parts = [(DAILY[table], [(first_day, last_day)])]
    return [*parts, (table, edges)] if edges else parts


def _bucket_column(table: Table, bucket: Bucket, dialect: str) -> ColumnElement[Any]:
    when = time_column(table)
    if bucket == "day" and table in DAILY.values():
        return when  # already a day
    return bucket_expr(when, bucket, dialect).label("ts")


def _plus(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else a + b


def grouped(
    conn: Connection,
    f: Filters,
    keys: Sequence[str],
    sums: Sequence[str],
    *,
    table: Table = ROLLUPS,
    bucket: Bucket | None = None,
    where: Callable[[Table], list[ColumnElement[bool]]] | None = None,
) -> Sums:
    """SUM(``sums``) per (bucket start, ``keys``…) over ``f`` — hourly and daily merged.

    The request rollups are read from the project rollups when nothing needs key or user
    (:func:`narrowest`; ``where`` may then use only the columns both have). Each table is
    aggregated by the database on its own (no UNION subquery, which SQLite evaluates row by
    row) and the few grouped rows are added up here. Values keep their
    column types: Money sums stay Decimal. SUM over no rows gives None.
    """
    out: Sums = {}
    table = narrowest(table, f, (*keys, *sums))
    for part, spans in _parts(f, table, hourly=bucket == "hour"):
        cols = [_bucket_column(part, bucket, conn.dialect.name)] if bucket else []
        cols += [part.c[k] for k in keys]
        when = time_column(part)
        ranges = or_(*(time_range(when, a, b) for a, b in spans))
        conds = [ranges, *dims_where(part, f), *(where(part) if where else [])]
        query = select(*cols, *(func.sum(part.c[s]) for s in sums)).where(*conds)
        for row in conn.execute(query.group_by(*cols) if cols else query):
            key, values = tuple(row[: len(cols)]), list(row[len(cols) :])
            known = out.get(key)
            out[key] = values if known is None else list(map(_plus, known, values))
    return out


def request_where(f: Filters) -> list[ColumnElement[bool]]:
    """The exact range and dimension conditions of ``f`` on ``requests``."""
    r = REQUESTS.c
    conds = [time_range(r.started_at, f.start, f.end)]
    if f.project_ids:
        conds.append(r.project_id.in_(f.project_ids))
    if f.api_key_ids:
        conds.append(r.api_key_id.in_(f.api_key_ids))
    if f.end_users:
        conds.append(r.end_user.in_(f.end_users))
    if f.models:
        served = r.model_served.in_(f.models)
        conds.append(or_(served, and_(r.model_served.is_(None), r.model_requested.in_(f.models))))
    if f.tags:
        pairs = [tag.split("=", 1) for tag in f.tags]
        conds.append(or_(*(r.tags[k].as_string() == v for k, v in pairs)))
    return conds


def bucket_expr(
    column: ColumnElement[Any], bucket: Bucket, dialect: str
) -> ColumnElement[datetime]:
    """The start of the UTC hour or day of a rollup hour."""
    if bucket == "hour":
        return column
    if dialect == "sqlite":
        return type_coerce(func.datetime(column, "start of day"), UTCDateTime())
    return type_coerce(func.date_trunc("day", column), UTCDateTime())


def request_bucket(dialect: str, step: Bucket) -> ColumnElement[datetime]:
    """The UTC hour or day of a request's ``started_at`` (for sums read from ``requests``)."""
    started = REQUESTS.c.started_at
    if dialect == "sqlite":
        pattern = "%Y-%m-%d %H:00:00.000000" if step == "hour" else "%Y-%m-%d 00:00:00.000000"
        return type_coerce(func.strftime(pattern, started), UTCDateTime())
    return type_coerce(func.date_trunc(step, started), UTCDateTime())


def project_names(conn: Connection) -> dict[int, str]:
    rows = conn.execute(select(Project.id, Project.name))
    return {int(pid): str(name) for pid, name in rows}


def key_labels(conn: Connection) -> dict[int, str]:
    """``name-or-prefix (#id)``: prefixes need not be unique, ids are."""
    rows = conn.execute(select(ApiKey.id, ApiKey.name, ApiKey.prefix))
    return {int(kid): f"{name or prefix} (#{kid})" for kid, name, prefix in rows}


def label(value: Any, names: dict[int, str] | None = None) -> str:
    """A display label for a group key; 0 / '' / None stand for "none" in rollups."""
    if value in (None, 0, ""):
        return NONE_LABEL
    if names is not None:
        return names.get(int(value), f"#{value}")
    return str(value)


def money(value: Decimal | None) -> Decimal:
    """A SUM over no rows is NULL; money then is exactly zero."""
    return ZERO if value is None else value
