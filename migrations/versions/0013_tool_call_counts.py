"""requests and request rollups: built-in tool call counts

Built-in tools (web search, file search, code interpreter containers, image generation,
computer use) are billed per call on top of tokens; the gateway now counts them from the
Responses output items (and Chat Completions' search models) and prices them. The counts
are kept on each request, so its cost can be checked and repriced, and summed in the
request rollups, so tool traffic shows next to tokens. Existing rows count 0 calls.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOOL_CALLS = (
    "web_search_calls",
    "web_search_preview_calls",
    "file_search_calls",
    "code_interpreter_sessions",
    "image_generation_calls",
    "computer_calls",
)
ROLLUPS = ("hourly_rollups", "daily_rollups", "hourly_project_rollups", "daily_project_rollups")


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        for name in TOOL_CALLS:
            batch.add_column(
                sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0"))
            )
    for table in ROLLUPS:
        with op.batch_alter_table(table) as batch:
            for name in TOOL_CALLS:
                batch.add_column(
                    sa.Column(name, sa.BigInteger(), nullable=False, server_default=sa.text("0"))
                )


def downgrade() -> None:
    for table in (*ROLLUPS, "requests"):
        with op.batch_alter_table(table) as batch:
            for name in reversed(TOOL_CALLS):
                batch.drop_column(name)
