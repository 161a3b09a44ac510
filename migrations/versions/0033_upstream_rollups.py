"""daily_upstream_rollups: what each upstream (OpenAI key) was metered per day and model

Reconciliation against OpenAI's bill grouped by OpenAI key or project needs the metered
side per upstream, which no rollup kept: it read every raw request of the range (12.9–20 s
for 30 days at 50 M requests) and found nothing once retention had removed a month. The
recorder now writes this table with the other rollups; it is backfilled here exactly from
the raw requests still stored (integers and money sum exactly), including a month that a
retention pass cut short left detached. Only whole days are backfilled: a day whose stored
requests number fewer than its project rollups count (retention removed some; it keeps
unpriced ones) would be a partial day shown as complete, so it stays absent and its per-key
reconciliation has no metered lines (it had no complete ones before either).

Gateways older than 0033 do not write this table: stop them all before the upgrade (a row
one of them records afterwards would be missing from it).

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
    bind = op.get_bind()
    day = DAY[bind.dialect.name]
    columns = (
        "started_at, upstream, model_served, model_requested, outcome, prompt_tokens, "
        "cached_tokens, completion_tokens, cost_source, cost_usd"
    )
    sources = ["requests", *_detached(bind)]
    stored = " UNION ALL ".join(f"SELECT {columns} FROM {t}" for t in sources)
    upstream = "COALESCE(NULLIF(upstream, ''), 'default')"
    model = "COALESCE(NULLIF(model_served, ''), NULLIF(model_requested, ''), '')"
    op.execute(
        f"WITH stored AS ({stored}), "
        f"per_day AS (SELECT {day} AS day, COUNT(*) AS n FROM stored GROUP BY 1), "
        "rolled AS (SELECT day, SUM(requests) AS n FROM daily_project_rollups GROUP BY day), "
        "whole AS (SELECT per_day.day FROM per_day JOIN rolled "
        "ON rolled.day = per_day.day AND rolled.n = per_day.n) "
        f"INSERT INTO {TABLE} (day, upstream, model, outcome, {', '.join(SUMS)}) "
        f"SELECT {day}, {upstream}, {model}, outcome, {', '.join(SUMS.values())} "
        f"FROM stored WHERE {day} IN (SELECT day FROM whole) GROUP BY 1, 2, 3, 4"
    )


def _detached(bind: sa.Connection) -> list[str]:
    """A month's requests a retention pass detached and had not cut yet (PostgreSQL)."""
    if bind.dialect.name != "postgresql":
        return []
    found = bind.execute(
        sa.text(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname ~ "
            "'^requests_p[0-9]{6}$' AND NOT c.relispartition "
            "AND c.relnamespace = to_regnamespace(current_schema())"
        )
    )
    return [str(name) for name in found.scalars()]


def downgrade() -> None:
    op.drop_table(TABLE)
