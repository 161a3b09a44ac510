"""requests.cost_note: why a cost is not exact

A priced model whose usage holds no billable unit (speech priced per token, answered with
bare audio) is now estimated from our own count, and an unlisted dated snapshot is priced
as its undated name only as an estimate. The row says which basis was used, so an
``estimated`` or ``unpriced`` cost is never left unexplained.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("cost_note", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("cost_note")
