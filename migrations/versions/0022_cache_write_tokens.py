"""requests and request rollups: prompt tokens written to the prompt cache

GPT-5.6 and later bill prompt tokens written to the prompt cache at their own rate (1.25x
input); the usage object reports them as ``cache_write_tokens``, part of the prompt tokens
and apart from the cached (read) ones. Each request keeps its count, so its cost can be
checked and repriced, and the request rollups sum it. Existing rows count 0 writes.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from collector.db import search

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLLUPS = ("hourly_rollups", "daily_rollups", "hourly_project_rollups", "daily_project_rollups")


def upgrade() -> None:
    # plain ADD COLUMN (no batch): on SQLite a batch may rebuild ``requests``, which drops the
    # search index's triggers (collector.db.search)
    op.add_column(
        "requests",
        sa.Column("cache_write_tokens", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    for table in ROLLUPS:
        op.add_column(
            table,
            sa.Column(
                "cache_write_tokens", sa.BigInteger(), nullable=False, server_default=sa.text("0")
            ),
        )


def downgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:  # the batch rebuilds ``requests``: take the search index off it meanwhile
        search.drop(bind)
    for table in (*ROLLUPS, "requests"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("cache_write_tokens")
    if sqlite:
        search.create(bind)
