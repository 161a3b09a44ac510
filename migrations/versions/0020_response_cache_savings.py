"""requests and request rollups: what response cache hits saved

A request answered from the response cache is its own row (outcome ``cache_hit``, cost $0);
``saved_usd`` keeps the cost of the answer it replayed, and the request rollups sum it, so
the savings view, the chargeback report and FOCUS show cache savings. NULL / 0 elsewhere.

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-06 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from collector.db.types import Money

revision: str = "0020"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLLUPS = ("hourly_rollups", "daily_rollups", "hourly_project_rollups", "daily_project_rollups")


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("saved_usd", Money(), nullable=True))
    for table in ROLLUPS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("saved_usd", Money(), nullable=False, server_default=sa.text("0"))
            )


def downgrade() -> None:
    for table in (*ROLLUPS, "requests"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("saved_usd")
