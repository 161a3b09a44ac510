"""batch_jobs, and requests.batch_id: Batch API jobs metered line by line

The gateway now follows every Batch API job it relays until it ends, then records one
request per line of its output and error files at batch rates. ``batch_jobs`` holds each
job's upstream state, its attribution (the creating key's project, user and tags), how much
of it has been recorded, and a lease so one poller at a time ingests it. ``requests.batch_id``
links each line's row to its job. Existing rows belong to no job (NULL).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from collector.db.types import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batch_jobs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("upstream", sa.String(100), nullable=True),
        sa.Column("endpoint", sa.String(100), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("input_file_id", sa.String(200), nullable=True),
        sa.Column("output_file_id", sa.String(200), nullable=True),
        sa.Column("error_file_id", sa.String(200), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("request_total", sa.Integer(), nullable=False),
        sa.Column("request_completed", sa.Integer(), nullable=False),
        sa.Column("request_failed", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("end_user", sa.String(200), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("lines_recorded", sa.Integer(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_batch_jobs_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_batch_jobs_api_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_jobs")),
    )
    op.create_index("ix_batch_jobs_project_created", "batch_jobs", ["project_id", "created_at"])
    op.create_index("ix_batch_jobs_recorded_at", "batch_jobs", ["recorded_at"])
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("batch_id", sa.String(64), nullable=True))
        batch.create_index("ix_requests_batch_id", ["batch_id"])


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_index("ix_requests_batch_id")
        batch.drop_column("batch_id")
    op.drop_index("ix_batch_jobs_recorded_at", table_name="batch_jobs")
    op.drop_index("ix_batch_jobs_project_created", table_name="batch_jobs")
    op.drop_table("batch_jobs")
