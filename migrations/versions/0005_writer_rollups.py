"""batch/flex partial index; the recorder writes the daily rollups; hourly error rollups

requests: ix_requests_batch_flex_started is a partial index on started_at over the rows
``batch = true OR service_tier = 'flex'`` (a few per cent of traffic), so Batch/Flex savings
reports read only those rows. SQLite (>= 3.23) uses a partial index only when the query's
WHERE repeats the predicate term, so queries must write it exactly as here.

daily_rollups / daily_tag_rollups: the row triggers of 0004 are dropped. They fired once
per upserted hourly row (a PL/pgSQL call and a second UPDATE each, about a third of the
recorder's time on PostgreSQL); the recorder now upserts the daily rows itself from the
same in-memory aggregation, in the same transaction, and ``prices reprice`` moves them by
the same deltas as the hourly rows. Downgrading restores the triggers.

hourly_error_rollups: failed requests (every outcome but success) per hour, project, key,
user, model, outcome, error type and HTTP status, so the error breakdown reads a few rows
per hour instead of the failed raw rows. Backfilled from requests.

requests: the error breakdown now reads raw rows only for the partial hours at a range's
edges, so 0004's six-column covering index goes back to (outcome, started_at); the wide
one cost a quarter to a third of every requests insert on SQLite.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 09:35:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

import collector.db.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH_FLEX = "batch = true OR service_tier = 'flex'"
ERROR_KEYS = (
    "project_id", "api_key_id", "end_user", "model", "outcome", "error_type", "http_status",
)  # fmt: skip
DAILY_COMMENTS = {
    "daily_rollups": (
        "Sum of hourly_rollups per UTC day, written by the recorder with the hourly rows.",
        "Sum of hourly_rollups per UTC day, maintained by triggers on hourly_rollups.",
    ),
    "daily_tag_rollups": (
        "Sum of hourly_tag_rollups per UTC day, written by the recorder with the hourly rows.",
        "Sum of hourly_tag_rollups per UTC day, maintained by triggers.",
    ),
}


def _revision_0004() -> ModuleType:
    """The 0004 module (its file name is not importable), for its trigger definitions."""
    path = Path(__file__).with_name("0004_daily_rollups.py")
    spec = importlib.util.spec_from_file_location("spendscope_migration_0004", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hour(dialect: str) -> str:
    if dialect == "sqlite":
        return "strftime('%Y-%m-%d %H:00:00.000000', started_at)"
    return "date_trunc('hour', started_at)"


def _create_error_rollups(dialect: str) -> None:
    op.create_table(
        "hourly_error_rollups",
        sa.Column("hour", collector.db.types.UTCDateTime(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("end_user", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("error_type", sa.String(length=100), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("requests", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("hour", *ERROR_KEYS, name=op.f("pk_hourly_error_rollups")),
        comment="Failed requests per hour and error; 0 / '' stand for 'none' in key columns.",
    )
    keys = (
        "COALESCE(project_id, 0), COALESCE(api_key_id, 0), COALESCE(end_user, ''), "
        "COALESCE(model_served, model_requested, ''), outcome, COALESCE(error_type, ''), "
        "COALESCE(http_status, 0)"
    )
    hour = _hour(dialect)
    op.execute(
        f"INSERT INTO hourly_error_rollups (hour, {', '.join(ERROR_KEYS)}, requests) "
        f"SELECT {hour}, {keys}, COUNT(*) FROM requests WHERE outcome <> 'success' "
        f"GROUP BY {hour}, {keys}"
    )


_WIDE_ERROR_INDEX = ["outcome", "started_at", "error_type", "http_status", "model_served"]
_WIDE_ERROR_INDEX += ["model_requested"]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_index("ix_requests_outcome_started_error", table_name="requests")
    op.create_index("ix_requests_outcome_started", "requests", ["outcome", "started_at"])
    op.create_index(
        "ix_requests_batch_flex_started",
        "requests",
        ["started_at"],
        sqlite_where=sa.text(BATCH_FLEX),
        postgresql_where=sa.text(BATCH_FLEX),
    )
    for _, hourly, _, _ in _revision_0004().PAIRS:
        if dialect == "sqlite":
            for suffix in ("ins", "upd", "move", "del"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_{hourly}_{suffix}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS trg_{hourly}_daily ON {hourly}")
            op.execute(f"DROP FUNCTION IF EXISTS {hourly}_to_daily()")
    if dialect != "sqlite":
        for table, (new, old) in DAILY_COMMENTS.items():
            op.create_table_comment(table, new, existing_comment=old)
    _create_error_rollups(dialect)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_table("hourly_error_rollups")
    if dialect != "sqlite":
        for table, (new, old) in DAILY_COMMENTS.items():
            op.create_table_comment(table, old, existing_comment=new)
    m0004 = _revision_0004()
    for daily, hourly, keys, counters in m0004.PAIRS:
        # the recorder kept the daily rows equal to the hourly ones; triggers take over again
        if dialect == "sqlite":
            m0004._sqlite_triggers(daily, hourly, keys, counters)
        else:
            m0004._pg_triggers(daily, hourly, keys, counters)
    op.drop_index("ix_requests_batch_flex_started", table_name="requests")
    op.drop_index("ix_requests_outcome_started", table_name="requests")
    op.create_index("ix_requests_outcome_started_error", "requests", _WIDE_ERROR_INDEX)
