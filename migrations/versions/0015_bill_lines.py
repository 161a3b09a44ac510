"""bill_lines, bill_days, reconcile_runs: OpenAI's own bill, kept to reconcile against

``spendscope reconcile`` and the gateway's daily job fetch OpenAI's Costs and Usage APIs
into ``bill_lines`` (one row per API result, money exact) and mark each fetched UTC day in
``bill_days``; ``reconcile_runs`` has one row per day the job ran, so one process runs it.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-06 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from collector.db.types import Money, UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = (
    "input_tokens",
    "input_cached_tokens",
    "output_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "requests",
    "images",
    "seconds",
    "characters",
)


def upgrade() -> None:
    op.create_table(
        "bill_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("line_item", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.String(length=100), nullable=False),
        sa.Column("api_key_id", sa.String(length=100), nullable=False),
        sa.Column("batch", sa.Boolean(), nullable=False),
        sa.Column("billed_usd", Money(), nullable=True),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False, server_default=sa.text("0"))
            for name in COUNTS
        ),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_lines")),
    )
    op.create_index("ix_bill_lines_day_source", "bill_lines", ["day", "source"])
    op.create_table(
        "bill_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_bill_days")),
    )
    op.create_table(
        "reconcile_runs",
        sa.Column("run_day", sa.Date(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_day", name=op.f("pk_reconcile_runs")),
    )


def downgrade() -> None:
    op.drop_table("reconcile_runs")
    op.drop_table("bill_days")
    op.drop_index("ix_bill_lines_day_source", table_name="bill_lines")
    op.drop_table("bill_lines")
