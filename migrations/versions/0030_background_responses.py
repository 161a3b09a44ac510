"""batch_jobs.kind and batch_jobs.request_id: background Responses API responses followed

A Responses API call made with ``background: true`` is answered at once (``queued``) and runs
upstream afterwards; the gateway now follows it as it follows Batch API jobs, in the same
table under the same leases. ``kind`` says which it is (``batch`` for every existing row);
``request_id`` names the request row that created a background response, so the row of its
usage, recorded when it ends, links back to it.

Revision ID: 0030
Revises: 0027
Create Date: 2026-12-06 22:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("batch_jobs") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="batch"))
        batch.add_column(sa.Column("request_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batch_jobs") as batch:
        batch.drop_column("request_id")
        batch.drop_column("kind")
