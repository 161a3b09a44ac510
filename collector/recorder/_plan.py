"""What the writer writes, as plain data: tables, columns and how each column's values bind.

The gateway derives a :class:`WritePlan` from the schema (``writer.write_plan``, checking
each binding against SQLAlchemy's own type processors) and hands it to the writer process,
which builds its statements and row functions from it without importing SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass

# How a column's values are bound (``_binds`` has the code of each, per dialect):
#   plain  as they are            float  float()           bool   strict 0/1 (SQLite)
#   utc    aware datetime → naive UTC (SQLite: its DATETIME text)
#   money  Decimal at 1e-10 (SQLite: an integer count of 1e-10 USD)
#   json   JSON text
KINDS = ("plain", "float", "bool", "utc", "money", "json")


@dataclass(frozen=True)
class TablePlan:
    name: str
    columns: tuple[str, ...]
    kinds: tuple[str, ...]  # one of KINDS per column
    keys: tuple[str, ...] = ()  # an upsert's conflict keys (its first columns)

    def kinds_of(self, names: tuple[str, ...]) -> tuple[str, ...]:
        index = {name: i for i, name in enumerate(self.columns)}
        return tuple(self.kinds[index[name]] for name in names)


@dataclass(frozen=True)
class WritePlan:
    """The tables of one batch, for one dialect (``sqlite`` or ``postgresql``)."""

    dialect: str
    requests: TablePlan
    attempts: TablePlan
    # upserted in this order: hourly, daily, tags, daily tags, errors, daily errors, tiers,
    # daily tiers, projects, daily projects (``_batch`` pairs them with the aggregates)
    rollups: tuple[TablePlan, ...]
