"""gateway_files: files uploaded through the gateway belong to the uploading project

The gateway answers a file (retrieve, content, delete, a batch's input) only to the project
that uploaded it through the gateway; another project's file, or one never uploaded here, is
a 404. Files uploaded before this revision belong to no project and are 404s too (their
batches, already created, are followed as before; their output files stay readable through
``batch_jobs``).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from collector.db.types import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_files",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.String(40), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_gateway_files_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_gateway_files_api_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_files")),
    )
    op.create_index(
        "ix_gateway_files_project_created", "gateway_files", ["project_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_gateway_files_project_created", table_name="gateway_files")
    op.drop_table("gateway_files")
