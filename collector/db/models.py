"""The schema: a public interface (docs/schema.md documents every column for finance teams).

SQLAlchemy 2.0 typed declarative with naming conventions, so Alembic migrations name every
constraint the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from collector.db.types import Money, UTCDateTime
from collector.histogram import LATENCY_COLUMNS, TTFT_COLUMNS

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        Decimal: Money,
        datetime: UTCDateTime,
    }


class Project(Base):
    """A team or application; owns keys, budgets and its SLO target."""

    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    slo_target: Mapped[Decimal] = mapped_column(
        Numeric(7, 5, asdecimal=True), server_default=text("0.995")
    )
    slo_window_days: Mapped[int] = mapped_column(Integer, server_default=text("30"))
    rpm_limit: Mapped[int | None] = mapped_column(Integer)
    tpm_limit: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


class ApiKey(Base):
    """A virtual key: only its SHA-256 hash and a display prefix are stored, never the key."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(200))
    end_user: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rpm_limit: Mapped[int | None] = mapped_column(Integer)
    tpm_limit: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Request(Base):
    """One logical client request (its upstream tries are ``attempts`` rows)."""

    __tablename__ = "requests"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    duration_ms: Mapped[float] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    endpoint: Mapped[str] = mapped_column(String(100))
    model_requested: Mapped[str | None] = mapped_column(String(200))
    model_served: Mapped[str | None] = mapped_column(String(200))
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    end_user: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    http_status: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))
    error_type: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(String(1000))
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    audio_prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    audio_completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    image_tokens: Mapped[int] = mapped_column(Integer, default=0)
    audio_seconds: Mapped[Decimal] = mapped_column(Numeric(12, 3, asdecimal=True), default=0)
    characters: Mapped[int] = mapped_column(Integer, default=0)
    images: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[Decimal | None]
    cost_source: Mapped[str] = mapped_column(String(20))
    price_id: Mapped[str | None] = mapped_column(String(200))
    previous_cost_usd: Mapped[Decimal | None]
    repriced_at: Mapped[datetime | None]
    batch: Mapped[bool] = mapped_column(Boolean, default=False)
    service_tier: Mapped[str | None] = mapped_column(String(20))
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    upstream: Mapped[str | None] = mapped_column(String(100))
    upstream_request_id: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_requests_project_started", "project_id", "started_at"),
        Index("ix_requests_model_started", "model_served", "started_at"),
        # the error breakdown's partial-hour edges (0005 narrowed 0004's covering index to this)
        Index("ix_requests_outcome_started", "outcome", "started_at"),
        Index("ix_requests_key_started", "api_key_id", "started_at"),
        # the requests table sorted by cost walks this on wide ranges (migration 0008)
        Index("ix_requests_cost_usd_id", "cost_usd", "id"),
    )


class Attempt(Base):
    """One upstream try of a request (retries and fallbacks each add one)."""

    __tablename__ = "attempts"
    request_id: Mapped[str] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True
    )
    attempt_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime]
    duration_ms: Mapped[float] = mapped_column(Float)
    model: Mapped[str | None] = mapped_column(String(200))
    upstream: Mapped[str | None] = mapped_column(String(100))
    http_status: Mapped[int | None] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(String(1000))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[Decimal | None]


class Budget(Base):
    """A spending limit over a scope and a period (soft: alert; hard: block)."""

    __tablename__ = "budgets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    scope_kind: Mapped[str] = mapped_column(String(20))
    scope_value: Mapped[str | None] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(20))
    rolling_days: Mapped[int | None] = mapped_column(Integer)
    amount_usd: Mapped[Decimal]
    mode: Mapped[str] = mapped_column(String(10))
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AlertRule(Base):
    """What to watch (budget threshold, burn rate, …) and where to send it."""

    __tablename__ = "alert_rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    scope_kind: Mapped[str | None] = mapped_column(String(20))
    scope_value: Mapped[str | None] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    channels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class AlertEvent(Base):
    """A fired alert; the unique ``dedup_key`` makes exactly one process send it."""

    __tablename__ = "alert_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    dedup_key: Mapped[str] = mapped_column(String(400), unique=True)
    state: Mapped[str] = mapped_column(String(20))
    fired_at: Mapped[datetime] = mapped_column(index=True)
    resolved_at: Mapped[datetime | None]
    message: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    deliveries: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PriceOverride(Base):
    """A custom or negotiated price (or org-wide discount) that beats the catalog."""

    __tablename__ = "price_overrides"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    effective_from: Mapped[datetime]
    effective_to: Mapped[datetime | None]
    input_per_1m: Mapped[Decimal | None]
    cached_input_per_1m: Mapped[Decimal | None]
    output_per_1m: Mapped[Decimal | None]
    discount_pct: Mapped[Decimal | None] = mapped_column(Numeric(7, 4, asdecimal=True))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


def _rollup_counters() -> list[Column[Any]]:
    ints = [
        "requests", "stream_requests", "prompt_tokens", "cached_tokens", "completion_tokens",
        "reasoning_tokens", "unpriced_requests", "estimated_requests", "retried_requests",
        "retry_rescued", "attempts", "failed_attempts", "ttft_count",
    ]  # fmt: skip
    columns: list[Column[Any]] = [
        Column(n, BigInteger, nullable=False, server_default=text("0")) for n in ints
    ]
    columns += [
        Column("cost_usd", Money(), nullable=False, server_default=text("0")),
        Column("failed_attempt_cost_usd", Money(), nullable=False, server_default=text("0")),
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


class BudgetCounter(Base):
    """Spent and reserved money of one budget in one period (or one day of a rolling window).

    Hard budgets admit a request with one conditional UPDATE on this row, so the limit holds
    across processes; ``spent_usd`` starts from the spend already recorded when the row is made.
    """

    __tablename__ = "budget_counters"
    budget_id: Mapped[int] = mapped_column(
        ForeignKey("budgets.id", ondelete="CASCADE"), primary_key=True
    )
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    spent_usd: Mapped[Decimal]
    reserved_usd: Mapped[Decimal]
    updated_at: Mapped[datetime]


class BudgetReservation(Base):
    """An open hold on a counter, so holds of crashed processes can be released after expiry."""

    __tablename__ = "budget_reservations"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    budget_id: Mapped[int] = mapped_column(
        ForeignKey("budgets.id", ondelete="CASCADE"), primary_key=True
    )
    period_start: Mapped[datetime]
    amount_usd: Mapped[Decimal]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
