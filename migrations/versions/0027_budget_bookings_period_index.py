"""budget_bookings: an index on (budget_id, period_start) for the clean of ended bookings

The gateways' hourly clean deletes each budget's reported-call bookings (``ingest:…``) of
periods that have ended (``collector.budgets.ended_ingest_bookings``); without an index it
scanned the whole table once per budget. The index also serves the cascade when a budget is
deleted.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 20:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_budget_bookings_budget_period"


def upgrade() -> None:
    op.create_index(INDEX, "budget_bookings", ["budget_id", "period_start"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="budget_bookings")
