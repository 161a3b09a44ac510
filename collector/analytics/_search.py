"""The requests table's search as one condition that an index answers on either database.

A request id, upstream request id or Batch API job id matches exactly (three b-tree
indexes); any other text matches a substring of the error message, case-insensitively,
through ``collector.db.search``'s text index: PostgreSQL's trigram GIN index serves
``ILIKE``, SQLite's FTS5 trigram table a phrase ``MATCH`` (shorter than three characters it
cannot: such a search reads the range).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, literal_column, or_, select, table

from collector.analytics._sql import REQUESTS
from collector.db.search import FTS_TABLE, MIN_FTS_CHARS, fts_phrase


def _escaped(needle: str) -> str:
    return needle.replace("/", "//").replace("%", "/%").replace("_", "/_")


def search_condition(dialect: str, needle: str) -> ColumnElement[bool]:
    """Rows whose ids equal ``needle`` or whose error message contains it (any case)."""
    r = REQUESTS.c
    exact = [r.id == needle, r.upstream_request_id == needle, r.batch_id == needle]
    found: ColumnElement[bool]
    if dialect == "postgresql":
        found = r.error_message.ilike(f"%{_escaped(needle)}%", escape="/")
    elif len(needle) >= MIN_FTS_CHARS:
        fts = table(FTS_TABLE)
        matching: Select[Any] = (
            select(literal_column("rowid"))
            .select_from(fts)
            .where(literal_column(FTS_TABLE).op("MATCH")(fts_phrase(needle)))
        )
        found = literal_column(f"{REQUESTS.name}.rowid").in_(matching)
    else:
        found = r.error_message.contains(needle, autoescape=True)
    return or_(*exact, found)
