"""The requests table's search as one condition that an index answers on either database.

A request id, upstream request id or Batch API job id matches exactly (three b-tree
indexes); any other text matches a substring of the error message, case-insensitively,
through ``collector.db.search``'s text index: PostgreSQL's trigram GIN index serves
``ILIKE``, SQLite's FTS5 trigram table a phrase ``MATCH`` (shorter than three characters it
cannot: such a search reads the range).

On SQLite the matches are one ``rowid IN (…)`` list that drives the query, the range and the
other filters hidden from the planner (:func:`hidden`): else it walks the range's time index
and probes the list row by row, reading the whole range to count the matches.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    literal_column,
    or_,
    select,
    table,
    union_all,
)
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from collector.analytics._sql import REQUESTS
from collector.db.search import FTS_TABLE, MIN_FTS_CHARS, fts_phrase


def _escaped(needle: str) -> str:
    return needle.replace("/", "//").replace("%", "/%").replace("_", "/_")


def hidden(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """``condition`` behind a unary +: SQLite then uses no index for it, only filters by it
    (SQLite only: PostgreSQL has no unary + on booleans)."""
    return UnaryExpression(condition.self_group(), operator=custom_op("+"), type_=Boolean())


def search_condition(dialect: str, needle: str) -> ColumnElement[bool]:
    """Rows whose ids equal ``needle`` or whose error message contains it (any case)."""
    r = REQUESTS.c
    exact = [r.id == needle, r.upstream_request_id == needle, r.batch_id == needle]
    if dialect == "postgresql":
        found = r.error_message.ilike(f"%{_escaped(needle)}%", escape="/")
        return or_(*exact, found)
    rowid: ColumnElement[Any] = literal_column("rowid")
    lookups: list[Select[Any]] = [select(rowid).select_from(REQUESTS).where(e) for e in exact]
    if len(needle) >= MIN_FTS_CHARS:
        match = literal_column(FTS_TABLE).op("MATCH")(fts_phrase(needle))
        lookups.append(select(rowid).select_from(table(FTS_TABLE)).where(match))
    else:  # too short for trigrams: read the error messages
        contains = r.error_message.contains(needle, autoescape=True)
        lookups.append(select(rowid).select_from(REQUESTS).where(contains))
    return literal_column(f"{REQUESTS.name}.rowid").in_(union_all(*lookups))
