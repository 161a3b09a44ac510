"""batch_jobs.closed_priced_usd, closed_unpriced, closed_lines: what a job's rows cost

Whoever closes a Batch API job or a background response writes what its rows cost before
replacing the estimate its creation booked on hard budgets. A settle that books that
estimate only afterwards (it is queued, and may reach the database after the job ended)
reads these and books the exact cost instead of keeping the estimate forever.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 08:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from collector.db.types import Money

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("batch_jobs") as batch:
        batch.add_column(sa.Column("closed_priced_usd", Money(), nullable=True))
        batch.add_column(sa.Column("closed_unpriced", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("closed_lines", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batch_jobs") as batch:
        batch.drop_column("closed_lines")
        batch.drop_column("closed_unpriced")
        batch.drop_column("closed_priced_usd")
