"""daily error rollups; hourly and daily batch/flex tier rollups; drop the batch/flex index

daily_error_rollups: hourly_error_rollups summed per UTC day, so a month's error breakdown
reads ~30 rows per key instead of ~720 (142 k rows at 10 M requests took 180 ms to group).

hourly_tier_rollups / daily_tier_rollups: Batch API and flex-tier requests per period,
dashboard dimensions and tier ('batch' when ``batch`` is set, else 'flex'), with the token
and cost sums of the priced ones, which is what the Spend page's savings compare. They
replace reading those rows from ``requests`` (0.3-0.7 s over 30 days at 10 M requests).

requests: ix_requests_batch_flex_started (0005, covering since 0006) served only that
query; every insert paid for it, so it goes.

All three tables are backfilled exactly (the tier rollups from ``requests``, before the
partial index that speeds that up is dropped). Downgrading drops them and restores the index.

Revision ID: 0007_error_tier_rollups
Revises: 0006
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import collector.db.types

revision: str = "0007_error_tier_rollups"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH_FLEX = "batch = true OR service_tier = 'flex'"
INDEX = "ix_requests_batch_flex_started"
COVERING = [
    "started_at", "model_served", "model_requested", "batch", "service_tier", "project_id",
    "api_key_id", "cost_usd", "prompt_tokens", "cached_tokens", "completion_tokens",
    "audio_prompt_tokens", "audio_completion_tokens",
]  # fmt: skip
KEYS = ("project_id", "api_key_id", "end_user", "model", "outcome")
ERROR_KEYS = (*KEYS, "error_type", "http_status")
TIER_KEYS = (*KEYS, "tier")
TOKENS = (
    "prompt_tokens", "cached_tokens", "completion_tokens", "audio_prompt_tokens",
    "audio_completion_tokens",
)  # fmt: skip
TIER_COUNTERS = ("requests", "priced_requests", *TOKENS, "cost_usd")
COMMENTS = {
    "daily_error_rollups": "Sum of hourly_error_rollups per UTC day, written by the recorder "
    "with them.",
    "hourly_tier_rollups": "Batch / flex requests per hour; token and cost counters over "
    "priced rows only.",
    "daily_tier_rollups": "Sum of hourly_tier_rollups per UTC day, written by the recorder "
    "with them.",
}


def _key(name: str) -> sa.Column[Any]:
    kinds: dict[str, sa.types.TypeEngine[Any]] = {
        "project_id": sa.Integer(),
        "api_key_id": sa.Integer(),
        "end_user": sa.String(200),
        "model": sa.String(200),
        "outcome": sa.String(20),
        "error_type": sa.String(100),
        "http_status": sa.Integer(),
        "tier": sa.String(10),
    }
    return sa.Column(name, kinds[name], nullable=False)


def _counter(name: str) -> sa.Column[Any]:
    kind: sa.types.TypeEngine[Any] = sa.BigInteger()
    if name == "cost_usd":
        kind = collector.db.types.Money(precision=20, scale=10)
    return sa.Column(name, kind, server_default=sa.text("0"), nullable=False)


def _create(table: str, period: str, keys: Sequence[str], counters: Sequence[str]) -> None:
    op.create_table(
        table,
        sa.Column(period, collector.db.types.UTCDateTime(), nullable=False),
        *(_key(k) for k in keys),
        *(_counter(c) for c in counters),
        sa.PrimaryKeyConstraint(period, *keys, name=op.f(f"pk_{table}")),
        comment=COMMENTS[table],
    )


def _truncate(column: str, unit: str, dialect: str) -> str:
    """The UTC hour or day of ``column``, in the stored form of UTCDateTime on each dialect."""
    if dialect == "sqlite":
        pattern = "%Y-%m-%d %H:00:00.000000" if unit == "hour" else "%Y-%m-%d 00:00:00.000000"
        return f"strftime('{pattern}', {column})"
    return f"date_trunc('{unit}', {column})"


def _backfill_daily(daily: str, hourly: str, keys: Sequence[str], counters: Sequence[str],
                    dialect: str) -> None:  # fmt: skip
    day = _truncate("hour", "day", dialect)
    sums = ", ".join(f"SUM({c})" for c in counters)
    op.execute(
        f"INSERT INTO {daily} (day, {', '.join((*keys, *counters))}) "
        f"SELECT {day}, {', '.join(keys)}, {sums} FROM {hourly} GROUP BY {day}, {', '.join(keys)}"
    )


def _backfill_tiers(dialect: str) -> None:
    """Keys as the recorder writes them (0 / '' for none); token sums over priced rows."""
    hour = _truncate("started_at", "hour", dialect)
    keys = (
        "COALESCE(project_id, 0), COALESCE(api_key_id, 0), COALESCE(end_user, ''), "
        "COALESCE(model_served, model_requested, ''), outcome, "
        "CASE WHEN batch THEN 'batch' ELSE 'flex' END"
    )
    priced = "CASE WHEN cost_usd IS NOT NULL THEN {} ELSE 0 END"
    sums = ", ".join(
        ["COUNT(*)", f"SUM({priced.format(1)})"]
        + [f"SUM({priced.format(t)})" for t in TOKENS]
        + ["COALESCE(SUM(cost_usd), 0)"]
    )
    op.execute(
        f"INSERT INTO hourly_tier_rollups (hour, {', '.join((*TIER_KEYS, *TIER_COUNTERS))}) "
        f"SELECT {hour}, {keys}, {sums} FROM requests WHERE ({BATCH_FLEX}) "
        f"GROUP BY {hour}, {keys}"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _create("daily_error_rollups", "day", ERROR_KEYS, ("requests",))
    _backfill_daily("daily_error_rollups", "hourly_error_rollups", ERROR_KEYS, ("requests",),
                    dialect)  # fmt: skip
    _create("hourly_tier_rollups", "hour", TIER_KEYS, TIER_COUNTERS)
    _create("daily_tier_rollups", "day", TIER_KEYS, TIER_COUNTERS)
    _backfill_tiers(dialect)  # reads requests through the partial index, still there
    _backfill_daily("daily_tier_rollups", "hourly_tier_rollups", TIER_KEYS, TIER_COUNTERS,
                    dialect)  # fmt: skip
    op.drop_index(INDEX, table_name="requests")


def downgrade() -> None:
    where = sa.text(BATCH_FLEX)
    op.create_index(INDEX, "requests", COVERING, sqlite_where=where, postgresql_where=where)
    op.drop_table("daily_tier_rollups")
    op.drop_table("hourly_tier_rollups")
    op.drop_table("daily_error_rollups")
