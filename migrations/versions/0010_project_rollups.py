"""hourly and daily project rollups (the request rollups without key and user)

At 10 M requests a month the request rollups hold ~323 rows an hour and ~818 a day (one per
project × key × user × model × outcome); a dashboard view that neither filters nor groups
by key or user needs only project × model × outcome: ~138 rows an hour, ~215 a day. The
30-day views then sum ~9.7 k rows of 60-odd columns instead of ~31.8 k. Both tables have
every counter of the request rollups and are backfilled exactly from them (integers and
money sum exactly; the float sums of durations may differ in the last bits from summing in
another order).

daily_rollups: the covering indexes of 0009 served only those unfiltered views, which now
read daily_project_rollups; every daily upsert paid for them, so they go (restored on
downgrade).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 04:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import collector.db.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INTS = (
    "requests", "stream_requests", "prompt_tokens", "cached_tokens", "completion_tokens",
    "reasoning_tokens", "unpriced_requests", "estimated_requests", "retried_requests",
    "retry_rescued", "attempts", "failed_attempts", "ttft_count",
)  # fmt: skip
MONEY = ("cost_usd", "failed_attempt_cost_usd")
FLOATS = ("duration_ms_sum", "ttft_ms_sum")
BUCKETS = tuple(f"lat_b{i:02d}" for i in range(26)) + tuple(f"ttft_b{i:02d}" for i in range(26))
COUNTERS = (*INTS, *MONEY, *FLOATS, *BUCKETS)
KEYS = ("project_id", "model", "outcome")
# (new table, the table it sums, its time column)
TABLES = (
    ("hourly_project_rollups", "hourly_rollups", "hour"),
    ("daily_project_rollups", "daily_rollups", "day"),
)
COMMENTS = {
    "hourly_project_rollups": "hourly_rollups summed over api keys and end users, written "
    "with them.",
    "daily_project_rollups": "daily_rollups summed over api keys and end users, written with them.",
}
COVERING = {  # migration 0009's, dropped here
    "ix_daily_rollups_day_model": [
        "day", "model", "cost_usd", "requests", "prompt_tokens", "completion_tokens",
        "cached_tokens",
    ],
    "ix_daily_rollups_day_project": [
        "day", "project_id", "outcome", "model", "requests", "retried_requests",
        "retry_rescued", "attempts", "failed_attempt_cost_usd", "unpriced_requests", "cost_usd",
    ],
}  # fmt: skip


def _counter(name: str) -> sa.Column[Any]:
    kind: sa.types.TypeEngine[Any]
    if name in MONEY:
        kind = collector.db.types.Money(precision=20, scale=10)
    elif name in FLOATS:
        kind = sa.Float()
    else:
        kind = sa.BigInteger()
    return sa.Column(name, kind, server_default=sa.text("0"), nullable=False)


def _create(table: str, period: str) -> None:
    op.create_table(
        table,
        sa.Column(period, collector.db.types.UTCDateTime(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        *(_counter(c) for c in COUNTERS),
        sa.PrimaryKeyConstraint(period, *KEYS, name=op.f(f"pk_{table}")),
        comment=COMMENTS[table],
        sqlite_with_rowid=False,  # one B-tree per upsert (the key is the table's order)
    )


def _backfill(table: str, source: str, period: str) -> None:
    keys = ", ".join((period, *KEYS))
    sums = ", ".join(f"SUM({c})" for c in COUNTERS)
    op.execute(
        f"INSERT INTO {table} ({keys}, {', '.join(COUNTERS)}) "
        f"SELECT {keys}, {sums} FROM {source} GROUP BY {keys}"
    )


def upgrade() -> None:
    for table, source, period in TABLES:
        _create(table, period)
        _backfill(table, source, period)
    for name in COVERING:
        op.drop_index(name, table_name="daily_rollups")


def downgrade() -> None:
    for name, columns in COVERING.items():
        op.create_index(name, "daily_rollups", columns)
    for table, _, _ in TABLES:
        op.drop_table(table)
