"""daily_rollups: two covering indexes for the dashboard's common sums

At 10 M requests a month's daily rollups hold ~24.5 k rows of ~60 columns. SQLite read each
grouped sum through the primary key, fetched every row from the table and sorted all of its
summed columns into the groups. With (day, model, …) and (day, project_id, outcome, model,
…) holding the counters those queries sum, spend by model, reliability, the error budget,
the period spends and the overview's counts read only an index, the day-first groups in
index order (no sort), and latency by (day, model) walks the first index in order.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 23:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_daily_rollups_day_model": [
        "day", "model", "cost_usd", "requests", "prompt_tokens", "completion_tokens",
        "cached_tokens",
    ],
    "ix_daily_rollups_day_project": [
        "day", "project_id", "outcome", "model", "requests", "retried_requests",
        "retry_rescued", "attempts", "failed_attempt_cost_usd", "unpriced_requests", "cost_usd",
    ],
}  # fmt: skip


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "daily_rollups", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="daily_rollups")
