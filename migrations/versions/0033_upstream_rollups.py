"""daily_upstream_rollups: what each upstream (OpenAI key) was metered per day and model

Reconciliation against OpenAI's bill grouped by OpenAI key or project needs the metered
side per upstream, which no rollup kept: it read every raw request of the range (12.9–20 s
for 30 days at 50 M requests) and found nothing once retention had removed a month. The
recorder now writes this table with the other rollups; it is backfilled here exactly from
the raw requests still stored (integers and money sum exactly). Days whose raw rows were
already removed by retention stay absent from it, as they were absent from the raw rows.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import collector.db.types

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "daily_upstream_rollups"
COUNTS = (
    "requests", "prompt_tokens", "cached_tokens", "completion_tokens", "unpriced_requests",
    "estimated_requests",
)  # fmt: skip
# each counter from the raw rows, as the recorder sums them (rollup._sum_upstream)
SUMS = {
    "requests": "COUNT(*)",
    "prompt_tokens": "COALESCE(SUM(prompt_tokens), 0)",
    "cached_tokens": "COALESCE(SUM(cached_tokens), 0)",
    "completion_tokens": "COALESCE(SUM(completion_tokens), 0)",
    "unpriced_requests": "SUM(CASE WHEN cost_source = 'unpriced' THEN 1 ELSE 0 END)",
    "estimated_requests": "SUM(CASE WHEN cost_source = 'estimated' THEN 1 ELSE 0 END)",
    "cost_usd": "COALESCE(SUM(cost_usd), 0)",
}
# the UTC day of started_at as the column stores it (SQLite: DATETIME text with microseconds)
DAY = {
    "postgresql": "date_trunc('day', started_at)",
    "sqlite": "substr(started_at, 1, 10) || ' 00:00:00.000000'",
}


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False)


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("day", collector.db.types.UTCDateTime(), nullable=False),
        sa.Column("upstream", sa.String(100), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        *(_count(n) for n in COUNTS),
        sa.Column(
            "cost_usd",
            collector.db.types.Money(precision=20, scale=10),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("day", "upstream", "model", "outcome", name=op.f(f"pk_{TABLE}")),
        comment="Requests per UTC day, upstream, model and outcome ('default': no upstream named).",
        sqlite_with_rowid=False,
    )
    day = DAY[op.get_bind().dialect.name]
    upstream = "COALESCE(NULLIF(upstream, ''), 'default')"
    model = "COALESCE(NULLIF(model_served, ''), NULLIF(model_requested, ''), '')"
    columns = ", ".join(SUMS)
    op.execute(
        f"INSERT INTO {TABLE} (day, upstream, model, outcome, {columns}) "
        f"SELECT {day}, {upstream}, {model}, outcome, {', '.join(SUMS.values())} "
        f"FROM requests GROUP BY 1, 2, 3, 4"
    )


def downgrade() -> None:
    op.drop_table(TABLE)
