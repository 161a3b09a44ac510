"""attempts: which server-held upstream key each try used, by its last four characters

Several upstream keys can serve one upstream (``SPENDSCOPE_UPSTREAM_KEYS`` lists), so each
try records the last four characters of the key it sent: never more, enough for an operator to
tell the keys apart (``spendscope upstream-keys status``). Existing rows have none (NULL).

Revision ID: 0026
Revises: 0022
Create Date: 2026-12-06 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ADD COLUMN on ``attempts`` (the search index lives on ``requests``, untouched)
    op.add_column("attempts", sa.Column("upstream_key_last4", sa.String(4), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("upstream_key_last4")
