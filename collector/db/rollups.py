"""The rollup tables: requests, tags, errors and batch / flex tiers summed per hour and day.

The recorder writes them with the raw rows, in the same transaction; the dashboard and the
reports read aggregates from them (``collector.analytics``). 0 / '' stand for "none" in key
columns.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, text

from collector.db.base import Base
from collector.db.types import Money, UTCDateTime
from collector.histogram import LATENCY_COLUMNS, TTFT_COLUMNS
from collector.usage import TOOL_CALL_FIELDS

# Built-in tool calls summed per rollup key (migration 0013), named as on ``requests``.
TOOL_CALL_COLUMNS = list(TOOL_CALL_FIELDS)


def _rollup_counters() -> list[Column[Any]]:
    ints = [
        "requests", "stream_requests", "prompt_tokens", "cached_tokens", "completion_tokens",
        "reasoning_tokens", "unpriced_requests", "estimated_requests", "retried_requests",
        "retry_rescued", "attempts", "failed_attempts", "ttft_count",
    ]  # fmt: skip
    ints += TOOL_CALL_COLUMNS
    ints.append("cache_write_tokens")  # prompt tokens written to the prompt cache (0022)
    columns: list[Column[Any]] = [
        Column(n, BigInteger, nullable=False, server_default=text("0")) for n in ints
    ]
    columns += [
        Column("cost_usd", Money(), nullable=False, server_default=text("0")),
        Column("failed_attempt_cost_usd", Money(), nullable=False, server_default=text("0")),
        # what response cache hits saved: the cost of the answers they replayed (0020)
        Column("saved_usd", Money(), nullable=False, server_default=text("0")),
        Column("duration_ms_sum", Float, nullable=False, server_default=text("0")),
        Column("ttft_ms_sum", Float, nullable=False, server_default=text("0")),
    ]
    columns += [
        Column(n, BigInteger, nullable=False, server_default=text("0"))
        for n in (*LATENCY_COLUMNS, *TTFT_COLUMNS)
    ]
    return columns


def _rollup_keys(period: str) -> list[Column[Any]]:
    """The key of the request and error rollups: the period, then the dashboard's dimensions."""
    return [
        Column(period, UTCDateTime(), primary_key=True),
        Column("project_id", Integer, primary_key=True),
        Column("api_key_id", Integer, primary_key=True),
        Column("end_user", String(200), primary_key=True),
        Column("model", String(200), primary_key=True),
        Column("outcome", String(20), primary_key=True),
    ]


def _tag_rollup_keys(period: str) -> list[Column[Any]]:
    """The key of the tag rollups: the period, one ``key=value`` tag, project, model, outcome."""
    return [
        Column(period, UTCDateTime(), primary_key=True),
        Column("tag", String(400), primary_key=True),
        Column("project_id", Integer, primary_key=True),
        Column("model", String(200), primary_key=True),
        Column("outcome", String(20), primary_key=True),
    ]


hourly_rollups = Table(
    "hourly_rollups",
    Base.metadata,
    *_rollup_keys("hour"),
    *_rollup_counters(),
    comment="Hourly aggregates of requests; 0 / '' stand for 'none' in key columns.",
)

hourly_tag_rollups = Table(
    "hourly_tag_rollups",
    Base.metadata,
    *_tag_rollup_keys("hour"),
    Column("requests", BigInteger, nullable=False, server_default=text("0")),
    Column("prompt_tokens", BigInteger, nullable=False, server_default=text("0")),
    Column("completion_tokens", BigInteger, nullable=False, server_default=text("0")),
    Column("cost_usd", Money(), nullable=False, server_default=text("0")),
    comment="Hourly spend per tag ('key=value'); a request with n tags counts in n rows.",
)

Index("ix_hourly_rollups_project_hour", hourly_rollups.c.project_id, hourly_rollups.c.hour)
Index("ix_hourly_rollups_model_hour", hourly_rollups.c.model, hourly_rollups.c.hour)

# Daily copies of the hourly rollups, so month-long dashboard ranges read ~24× fewer rows.
# The recorder upserts them with the hourly rows, from the same aggregation, in the same
# transaction (migration 0005; triggers did it before); reprice moves them by the same deltas.
daily_rollups = Table(
    "daily_rollups",
    Base.metadata,
    *_rollup_keys("day"),
    *_rollup_counters(),
    comment="Sum of hourly_rollups per UTC day, written by the recorder with the hourly rows.",
)


def _project_rollup_keys(period: str) -> list[Column[Any]]:
    """The request rollup key without api key and end user: period, project, model, outcome."""
    return [
        Column(period, UTCDateTime(), primary_key=True),
        Column("project_id", Integer, primary_key=True),
        Column("model", String(200), primary_key=True),
        Column("outcome", String(20), primary_key=True),
    ]


# The request rollups summed over api keys and end users (migration 0010): every view not
# filtered or grouped by key or user reads these, ~2.3x fewer rows an hour and ~3.8x fewer a
# day than the full rollups at 10 M requests (50 users, 20 keys). Written by the recorder
# from the same aggregation, in the same transaction; repriced with them. SQLite stores them
# WITHOUT ROWID, clustered by their key: an upsert writes one B-tree, not a table and its
# key index.
hourly_project_rollups = Table(
    "hourly_project_rollups",
    Base.metadata,
    *_project_rollup_keys("hour"),
    *_rollup_counters(),
    comment="hourly_rollups summed over api keys and end users, written with them.",
    sqlite_with_rowid=False,
)

daily_project_rollups = Table(
    "daily_project_rollups",
    Base.metadata,
    *_project_rollup_keys("day"),
    *_rollup_counters(),
    comment="daily_rollups summed over api keys and end users, written with them.",
    sqlite_with_rowid=False,
)

# What each upstream (the OpenAI key that carried the traffic) was metered per UTC day and
# model (migration 0033): reconciliation against OpenAI's bill grouped by key or project
# reads it instead of the raw rows, so it answers at any depth and after retention. Written
# by the recorder with the other rollups; repriced with them.
UPSTREAM_COUNTERS = (
    "requests", "prompt_tokens", "cached_tokens", "completion_tokens", "unpriced_requests",
    "estimated_requests",
)  # fmt: skip

daily_upstream_rollups = Table(
    "daily_upstream_rollups",
    Base.metadata,
    Column("day", UTCDateTime(), primary_key=True),
    Column("upstream", String(100), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("outcome", String(20), primary_key=True),
    *(Column(n, BigInteger, nullable=False, server_default=text("0")) for n in UPSTREAM_COUNTERS),
    Column("cost_usd", Money(), nullable=False, server_default=text("0")),
    comment="Requests per UTC day, upstream, model and outcome ('default': no upstream named).",
    sqlite_with_rowid=False,
)

daily_tag_rollups = Table(
    "daily_tag_rollups",
    Base.metadata,
    *_tag_rollup_keys("day"),
    Column("requests", BigInteger, nullable=False, server_default=text("0")),
    Column("prompt_tokens", BigInteger, nullable=False, server_default=text("0")),
    Column("completion_tokens", BigInteger, nullable=False, server_default=text("0")),
    Column("cost_usd", Money(), nullable=False, server_default=text("0")),
    comment="Sum of hourly_tag_rollups per UTC day, written by the recorder with the hourly rows.",
)


# Failed requests (all but success) per hour and error, for the error breakdown (migration
# 0005). Written by the recorder in the batch's transaction; never repriced (holds no money).
def _error_rollup_columns(period: str) -> list[Column[Any]]:
    """The error rollups' key (the request rollup key plus error type and status) and count."""
    return [
        *_rollup_keys(period),
        Column("error_type", String(100), primary_key=True),
        Column("http_status", Integer, primary_key=True),
        Column("requests", BigInteger, nullable=False, server_default=text("0")),
    ]


hourly_error_rollups = Table(
    "hourly_error_rollups",
    Base.metadata,
    *_error_rollup_columns("hour"),
    comment="Failed requests per hour and error; 0 / '' stand for 'none' in key columns.",
)

# The same per UTC day (migration 0007), written by the recorder with the hourly rows.
daily_error_rollups = Table(
    "daily_error_rollups",
    Base.metadata,
    *_error_rollup_columns("day"),
    comment="Sum of hourly_error_rollups per UTC day, written by the recorder with them.",
)

# Batch API / flex tier requests per period for the savings (migration 0007); tier is 'batch'
# when batch is set, else 'flex'. ``requests`` counts them all (so reprice finds the row when
# it prices one); the other counters sum only priced ones (cost_usd not NULL), as savings do.
TIER_COUNTERS = (
    "priced_requests", "prompt_tokens", "cached_tokens", "completion_tokens",
    "audio_prompt_tokens", "audio_completion_tokens",
)  # fmt: skip


def _tier_rollup_columns(period: str) -> list[Column[Any]]:
    return [
        *_rollup_keys(period),
        Column("tier", String(10), primary_key=True),
        Column("requests", BigInteger, nullable=False, server_default=text("0")),
        *(Column(n, BigInteger, nullable=False, server_default=text("0")) for n in TIER_COUNTERS),
        Column("cost_usd", Money(), nullable=False, server_default=text("0")),
    ]


hourly_tier_rollups = Table(
    "hourly_tier_rollups",
    Base.metadata,
    *_tier_rollup_columns("hour"),
    comment="Batch / flex requests per hour; token and cost counters over priced rows only.",
)

daily_tier_rollups = Table(
    "daily_tier_rollups",
    Base.metadata,
    *_tier_rollup_columns("day"),
    comment="Sum of hourly_tier_rollups per UTC day, written by the recorder with them.",
)
