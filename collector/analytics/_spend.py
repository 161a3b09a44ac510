"""Spend over time and top spenders, from the hourly rollups (or the tag rollups); by
provider, from ``requests`` (``_providers``: the rollups are not split by provider)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Table

from collector.analytics._frames import frame
from collector.analytics._model import GROUP_BYS, Bucket, Filters, GroupBy, UnsupportedFilterError
from collector.analytics._providers import provider_sums
from collector.analytics._sql import (
    grouped,
    key_labels,
    label,
    money,
    project_names,
    source_for,
)

_GROUP_COLUMN = {"model": "model", "project": "project_id", "key": "api_key_id", "user": "end_user"}
SPEND_COLUMNS = ("ts", "group", "cost_usd", "requests", "prompt_tokens", "completion_tokens")
TOP_COLUMNS = ("group", "cost_usd", "requests", "prompt_tokens", "completion_tokens")


def _check_by(by: str) -> None:
    if by not in GROUP_BYS:
        raise ValueError(f"unknown group-by {by!r}; expected one of {', '.join(GROUP_BYS)}")


def group_name(table: Table, by: GroupBy) -> str:
    """The rollup column a group-by reads; key/user are not in the tag rollups."""
    _check_by(by)
    if by == "tag":
        return "tag"
    name = _GROUP_COLUMN[by]
    if name not in table.c:
        raise UnsupportedFilterError(f"cannot group by {by} under a tag filter")
    return name


def group_labeler(conn: Connection, by: GroupBy) -> dict[int, str] | None:
    """Id → name maps for project and key groups; other groups are their own labels."""
    if by == "project":
        return project_names(conn)
    if by == "key":
        return key_labels(conn)
    return None


_SUMS = ("cost_usd", "requests", "prompt_tokens", "completion_tokens")


def _ints(*values: Any) -> tuple[int, ...]:
    return tuple(int(v or 0) for v in values)


def spend_over_time(engine: Engine, f: Filters, by: GroupBy, bucket: Bucket) -> pd.DataFrame:
    """Spend per time bucket and group.

    Columns: ``ts`` (UTC bucket start), ``group`` (display label; "(none)" for no
    project/key/user), ``cost_usd`` (Decimal, priced requests only), ``requests``,
    ``prompt_tokens``, ``completion_tokens``. Buckets are UTC hours or days; rows sorted by
    ts then group. Grouping by tag counts a request once per tag it carries.
    """
    with engine.connect() as conn:
        if by == "provider":
            sums, names = _by_provider(conn, f, bucket), None
        else:
            table = source_for(f, group_by_tag=by == "tag")
            names = group_labeler(conn, by)
            sums = grouped(conn, f, (group_name(table, by),), _SUMS, table=table, bucket=bucket)
    rows = [
        (ts, label(g, names), money(cost), *_ints(*counts))
        for (ts, g), (cost, *counts) in sorted(sums.items(), key=lambda item: item[0])
    ]
    return frame(rows, SPEND_COLUMNS)


def top_spenders(engine: Engine, f: Filters, by: GroupBy, limit: int = 10) -> pd.DataFrame:
    """The ``limit`` groups that spent most in the range, most first.

    Columns: ``group``, ``cost_usd`` (Decimal), ``requests``, ``prompt_tokens``,
    ``completion_tokens``. Ties are broken by the group key, so the order is stable.
    """
    if limit < 1:
        raise ValueError("limit must be >= 1")
    with engine.connect() as conn:
        if by == "provider":
            sums, names = _by_provider(conn, f, None), None
        else:
            table = source_for(f, group_by_tag=by == "tag")
            names = group_labeler(conn, by)
            sums = grouped(conn, f, (group_name(table, by),), _SUMS, table=table)
    ranked = sorted(sums.items(), key=lambda item: (-money(item[1][0]), item[0]))[:limit]
    rows = [(label(g, names), money(cost), *_ints(*counts)) for (g,), (cost, *counts) in ranked]
    return frame(rows, TOP_COLUMNS)


def _by_provider(conn: Connection, f: Filters, bucket: Bucket | None) -> dict[Any, list[Any]]:
    """Provider sums shaped as the rollups' (``_SUMS``, same order)."""
    _check_by("provider")
    return {key: values[: len(_SUMS)] for key, values in provider_sums(conn, f, bucket).items()}
