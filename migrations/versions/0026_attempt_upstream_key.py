"""attempts: which server-held upstream key each try used, by its last four characters

Several upstream keys can serve one upstream (``SPENDSCOPE_UPSTREAM_KEYS`` lists), so each
try records the last four characters of the key it sent: never more, enough for an operator to
tell the keys apart (``spendscope upstream-keys status``). Existing rows have none (NULL).
A partial index holds the refused tries (401/403) by time: the gateways and the
``upstream_key_revoked`` alert read them often, and they are few.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


REFUSED = "http_status IN (401, 403)"  # collector.db.models.REFUSED_TRIES at this revision
INDEX = "ix_attempts_refused_started"


def upgrade() -> None:
    # plain ADD COLUMN on ``attempts`` (the search index lives on ``requests``, untouched)
    op.add_column("attempts", sa.Column("upstream_key_last4", sa.String(4), nullable=True))
    where = sa.text(REFUSED)
    op.create_index(INDEX, "attempts", ["started_at"], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="attempts")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("upstream_key_last4")
