"""requests and attempts partitioned by month on PostgreSQL; ix_requests_unpriced_started

PostgreSQL: both tables become partitioned by range of the request id (a ULID, so a range
is a month), with a default pair and the months of the existing rows plus the current one
and two ahead (``collector.db.repartition``: every row, id and index kept). SQLite keeps its
plain tables. On both, a partial index finds the unpriced requests retention keeps without
reading a month.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 00:40:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from collector.db import repartition
from collector.db.models import UNPRICED_ROWS

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_requests_unpriced_started"


def upgrade() -> None:
    repartition.convert(op.get_bind(), datetime.now(UTC))
    where = sa.text(UNPRICED_ROWS)
    op.create_index(INDEX, "requests", ["started_at"], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="requests")
    repartition.revert(op.get_bind())
