"""budget_bookings: spend booked on hard-budget counters once per key

A reported call is booked once per request id (a replayed ingest call books nothing again);
a Batch API job's estimate is kept per counter until its lines are recorded, then replaced
by their exact cost.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from collector.db.types import Money, UTCDateTime

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "budget_bookings",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("budget_id", sa.Integer(), nullable=False),
        sa.Column("period_start", UTCDateTime(), nullable=False),
        sa.Column("amount_usd", Money(precision=20, scale=10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["budget_id"],
            ["budgets.id"],
            name=op.f("fk_budget_bookings_budget_id_budgets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", "budget_id", name=op.f("pk_budget_bookings")),
    )
    with op.batch_alter_table("budget_bookings") as batch_op:
        batch_op.create_index(batch_op.f("ix_budget_bookings_created_at"), ["created_at"])


def downgrade() -> None:
    with op.batch_alter_table("budget_bookings") as batch_op:
        batch_op.drop_index(batch_op.f("ix_budget_bookings_created_at"))
    op.drop_table("budget_bookings")
