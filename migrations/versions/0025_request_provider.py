"""requests and attempts: the provider that served them

A fallback chain may end at another provider's OpenAI-compatible endpoint (Anthropic,
Google). Each request and each attempt keeps who served it (openai, anthropic, google or
other), so spend can be split by provider and a failed try told apart from the answer.
Existing rows were all served through OpenAI-shaped upstreams: they read ``openai``.

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-06 19:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from collector.db import search

revision: str = "0025"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("requests", "attempts")


def upgrade() -> None:
    # plain ADD COLUMN (no batch): on SQLite a batch may rebuild ``requests``, which drops the
    # search index's triggers (collector.db.search)
    for table in TABLES:
        op.add_column(
            table,
            sa.Column("provider", sa.String(20), nullable=False, server_default="openai"),
        )


def downgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:  # the batch rebuilds ``requests``: take the search index off it meanwhile
        search.drop(bind)
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("provider")
    if sqlite:
        search.create(bind)
