"""daily rollups kept equal to the hourly rollups by triggers; a covering error index

daily_rollups / daily_tag_rollups hold the hourly rollups summed per UTC day, so a 30-day
dashboard range reads ~24× fewer rows. Row-level triggers on the hourly tables apply every
insert, update (the recorder's upserts) and delete to the daily tables in the same
transaction, so no writer needs to know about them and they can never drift. Existing
hourly rows are backfilled.

requests: ix_requests_outcome_started is widened to cover error_type, http_status and the
models, so the error breakdown over a month reads the index only (same index count, so the
writer's cost barely changes).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 03:20:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import collector.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INTS = (
    "requests", "stream_requests", "prompt_tokens", "cached_tokens", "completion_tokens",
    "reasoning_tokens", "unpriced_requests", "estimated_requests", "retried_requests",
    "retry_rescued", "attempts", "failed_attempts", "ttft_count",
)  # fmt: skip
MONEY = ("cost_usd", "failed_attempt_cost_usd")
FLOATS = ("duration_ms_sum", "ttft_ms_sum")
BUCKETS = tuple(f"lat_b{i:02d}" for i in range(26)) + tuple(f"ttft_b{i:02d}" for i in range(26))
COUNTERS = (*INTS, *MONEY, *FLOATS, *BUCKETS)
KEYS = ("project_id", "api_key_id", "end_user", "model", "outcome")
TAG_COUNTERS = ("requests", "prompt_tokens", "completion_tokens", "cost_usd")
TAG_KEYS = ("tag", "project_id", "model", "outcome")
# (daily table, hourly table, key columns after the time column, counters)
PAIRS = (
    ("daily_rollups", "hourly_rollups", KEYS, COUNTERS),
    ("daily_tag_rollups", "hourly_tag_rollups", TAG_KEYS, TAG_COUNTERS),
)


def _counter(name: str) -> sa.Column[Any]:
    zero = sa.text("0")
    kind: sa.types.TypeEngine[Any]
    if name in MONEY:
        kind = collector.db.types.Money(precision=20, scale=10)
    elif name in FLOATS:
        kind = sa.Float()
    else:
        kind = sa.BigInteger()
    return sa.Column(name, kind, server_default=zero, nullable=False)


def _key(name: str) -> sa.Column[Any]:
    kinds: dict[str, sa.types.TypeEngine[Any]] = {
        "project_id": sa.Integer(),
        "api_key_id": sa.Integer(),
        "tag": sa.String(400),
    }
    kinds |= {"end_user": sa.String(200), "model": sa.String(200), "outcome": sa.String(20)}
    return sa.Column(name, kinds[name], nullable=False)


def _create(daily: str, keys: Sequence[str], counters: Sequence[str], comment: str) -> None:
    op.create_table(
        daily,
        sa.Column("day", collector.db.types.UTCDateTime(), nullable=False),
        *(_key(k) for k in keys),
        *(_counter(c) for c in counters),
        sa.PrimaryKeyConstraint("day", *keys, name=op.f(f"pk_{daily}")),
        comment=comment,
    )


def _day(row: str, dialect: str) -> str:
    """The UTC day of ``row``.hour, in the stored form of UTCDateTime on each dialect."""
    if dialect == "sqlite":
        return f"strftime('%Y-%m-%d 00:00:00.000000', {row}.hour)"
    return f"date_trunc('day', {row}.hour)"


def _match(daily: str, row: str, keys: Sequence[str], dialect: str) -> str:
    conds = [f"{daily}.day = {_day(row, dialect)}"]
    conds += [f"{daily}.{k} = {row}.{k}" for k in keys]
    return " AND ".join(conds)


def _upsert_new(daily: str, keys: Sequence[str], counters: Sequence[str], dialect: str) -> str:
    cols = ", ".join(("day", *keys, *counters))
    vals = ", ".join((_day("NEW", dialect), *(f"NEW.{c}" for c in (*keys, *counters))))
    sets = ", ".join(f"{c} = {daily}.{c} + excluded.{c}" for c in counters)
    return (
        f"INSERT INTO {daily} ({cols}) VALUES ({vals}) "
        f"ON CONFLICT (day, {', '.join(keys)}) DO UPDATE SET {sets};"
    )


def _apply(daily: str, keys: Sequence[str], counters: Sequence[str], dialect: str,
           delta: str, row: str) -> str:  # fmt: skip
    """UPDATE the daily row of ``row`` by ``delta`` (a format with {c}) for every counter."""
    sets = ", ".join(f"{c} = {c} + {delta.format(c=c)}" for c in counters)
    return f"UPDATE {daily} SET {sets} WHERE {_match(daily, row, keys, dialect)};"


def _same_key(keys: Sequence[str]) -> str:
    return " AND ".join(f"NEW.{k} = OLD.{k}" for k in ("hour", *keys))


def _sqlite_triggers(daily: str, hourly: str, keys: Sequence[str], counters: Sequence[str]) -> None:
    up = _upsert_new(daily, keys, counters, "sqlite")
    delta = _apply(daily, keys, counters, "sqlite", "(NEW.{c} - OLD.{c})", "NEW")
    minus = _apply(daily, keys, counters, "sqlite", "(- OLD.{c})", "OLD")
    same = _same_key(keys)
    op.execute(f"CREATE TRIGGER trg_{hourly}_ins AFTER INSERT ON {hourly} BEGIN {up} END")
    op.execute(
        f"CREATE TRIGGER trg_{hourly}_upd AFTER UPDATE ON {hourly} WHEN {same} BEGIN {delta} END"
    )
    op.execute(
        f"CREATE TRIGGER trg_{hourly}_move AFTER UPDATE ON {hourly} WHEN NOT ({same}) "
        f"BEGIN {minus} {up} END"
    )
    op.execute(f"CREATE TRIGGER trg_{hourly}_del AFTER DELETE ON {hourly} BEGIN {minus} END")


def _pg_triggers(daily: str, hourly: str, keys: Sequence[str], counters: Sequence[str]) -> None:
    up = _upsert_new(daily, keys, counters, "postgresql")
    delta = _apply(daily, keys, counters, "postgresql", "(NEW.{c} - OLD.{c})", "NEW")
    minus = _apply(daily, keys, counters, "postgresql", "(- OLD.{c})", "OLD")
    op.execute(
        f"""CREATE FUNCTION {hourly}_to_daily() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' AND {_same_key(keys)} THEN
            {delta}
            RETURN NULL;
          END IF;
          IF TG_OP IN ('UPDATE', 'DELETE') THEN
            {minus}
          END IF;
          IF TG_OP IN ('INSERT', 'UPDATE') THEN
            {up}
          END IF;
          RETURN NULL;
        END $$"""
    )
    op.execute(
        f"CREATE TRIGGER trg_{hourly}_daily AFTER INSERT OR UPDATE OR DELETE ON {hourly} "
        f"FOR EACH ROW EXECUTE FUNCTION {hourly}_to_daily()"
    )


def _backfill(daily: str, hourly: str, keys: Sequence[str], counters: Sequence[str],
              dialect: str) -> None:  # fmt: skip
    day = _day(hourly, dialect)
    cols = ", ".join(("day", *keys, *counters))
    sums = ", ".join(f"SUM({c})" for c in counters)
    op.execute(
        f"INSERT INTO {daily} ({cols}) SELECT {day}, {', '.join(keys)}, {sums} "
        f"FROM {hourly} GROUP BY {day}, {', '.join(keys)}"
    )


_ERROR_INDEX = ["outcome", "started_at", "error_type", "http_status", "model_served"]
_ERROR_INDEX += ["model_requested"]


def upgrade() -> None:
    op.drop_index("ix_requests_outcome_started", table_name="requests")
    op.create_index("ix_requests_outcome_started_error", "requests", _ERROR_INDEX)
    dialect = op.get_bind().dialect.name
    comment = "Sum of hourly_rollups per UTC day, maintained by triggers on hourly_rollups."
    _create("daily_rollups", KEYS, COUNTERS, comment)
    comment = "Sum of hourly_tag_rollups per UTC day, maintained by triggers."
    _create("daily_tag_rollups", TAG_KEYS, TAG_COUNTERS, comment)
    for daily, hourly, keys, counters in PAIRS:
        _backfill(daily, hourly, keys, counters, dialect)
        if dialect == "sqlite":
            _sqlite_triggers(daily, hourly, keys, counters)
        else:
            _pg_triggers(daily, hourly, keys, counters)


def downgrade() -> None:
    op.drop_index("ix_requests_outcome_started_error", table_name="requests")
    op.create_index("ix_requests_outcome_started", "requests", ["outcome", "started_at"])
    dialect = op.get_bind().dialect.name
    for daily, hourly, _, _ in PAIRS:
        if dialect == "sqlite":
            for suffix in ("ins", "upd", "move", "del"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_{hourly}_{suffix}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS trg_{hourly}_daily ON {hourly}")
            op.execute(f"DROP FUNCTION IF EXISTS {hourly}_to_daily()")
        op.drop_table(daily)
