"""requests search index, ix_requests_upstream_request_id, maintenance_runs

The requests table's search stops reading the whole range: an index on
``upstream_request_id`` (an exact id) and a text index over ``error_message``
(``collector.db.search``: PostgreSQL ``pg_trgm`` GIN, SQLite FTS5 trigram table kept by
triggers). ``maintenance_runs`` lets one process per interval apply the retention.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from collector.db import search
from collector.db.types import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_requests_upstream_request_id", "requests", ["upstream_request_id"])
    search.create(op.get_bind())
    op.create_table(
        "maintenance_runs",
        sa.Column("slot", UTCDateTime(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("requests_deleted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_maintenance_runs")),
    )


def downgrade() -> None:
    op.drop_table("maintenance_runs")
    search.drop(op.get_bind())
    op.drop_index("ix_requests_upstream_request_id", table_name="requests")
