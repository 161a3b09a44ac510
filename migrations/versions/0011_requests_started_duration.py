"""requests: the started_at index also holds duration_ms

The requests table sorted by duration over a day ranked every row of the day: at 10 M
requests ~330 k rows fetched from the table for a page of 50 (PostgreSQL p95 214 ms). The
query layer now bounds the sort with the rollups' latency histograms (only rows slower than
a bucket bound can be on the page); with duration_ms in the started_at index both databases
check that bound in the index and fetch only the few rows past it. It replaces the plain
started_at index (no extra index for the recorder to write; entries 8 bytes wider).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 04:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_requests_started_duration", "requests", ["started_at", "duration_ms"])
    op.drop_index("ix_requests_started_at", table_name="requests")


def downgrade() -> None:
    op.create_index("ix_requests_started_at", "requests", ["started_at"])
    op.drop_index("ix_requests_started_duration", table_name="requests")
