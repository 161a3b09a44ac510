"""batch/flex partial index covers what the savings query reads

requests: ix_requests_batch_flex_started (0005) keyed only started_at, so the Spend page's
batch/flex savings fetched every batch/flex row from the table: at 10 M requests a 30-day
range touched ~300 k rows spread over most of the table's pages (0.9 s warm, ~10 s from a
cold cache on SQLite; 0.5 s on PostgreSQL). The index now also holds the columns that query
reads (model, mode, project and key filters, tokens, cost), so it is answered from the index
alone. Same name and predicate; it covers a few per cent of rows, so inserts barely pay.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH_FLEX = "batch = true OR service_tier = 'flex'"
NAME = "ix_requests_batch_flex_started"
COVERING = [
    "started_at", "model_served", "model_requested", "batch", "service_tier", "project_id",
    "api_key_id", "cost_usd", "prompt_tokens", "cached_tokens", "completion_tokens",
    "audio_prompt_tokens", "audio_completion_tokens",
]  # fmt: skip


def _create(columns: list[str]) -> None:
    where = sa.text(BATCH_FLEX)
    op.create_index(NAME, "requests", columns, sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    op.drop_index(NAME, table_name="requests")
    _create(COVERING)


def downgrade() -> None:
    op.drop_index(NAME, table_name="requests")
    _create(["started_at"])
