"""The schema: a public interface (docs/schema.md documents every column for finance teams).

SQLAlchemy 2.0 typed declarative with naming conventions, so Alembic migrations name every
constraint the same way on SQLite and PostgreSQL. The rollup tables live in
``collector.db.rollups`` and are re-exported here; both share ``collector.db.base.Base``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from collector.db.base import NAMING_CONVENTION as NAMING_CONVENTION
from collector.db.base import Base as Base
from collector.db.bills import BillDay as BillDay
from collector.db.bills import BillLine as BillLine
from collector.db.bills import ReconcileRun as ReconcileRun
from collector.db.rollups import TIER_COUNTERS as TIER_COUNTERS
from collector.db.rollups import daily_error_rollups as daily_error_rollups
from collector.db.rollups import daily_project_rollups as daily_project_rollups
from collector.db.rollups import daily_rollups as daily_rollups
from collector.db.rollups import daily_tag_rollups as daily_tag_rollups
from collector.db.rollups import daily_tier_rollups as daily_tier_rollups
from collector.db.rollups import daily_upstream_rollups as daily_upstream_rollups
from collector.db.rollups import hourly_error_rollups as hourly_error_rollups
from collector.db.rollups import hourly_project_rollups as hourly_project_rollups
from collector.db.rollups import hourly_rollups as hourly_rollups
from collector.db.rollups import hourly_tag_rollups as hourly_tag_rollups
from collector.db.rollups import hourly_tier_rollups as hourly_tier_rollups


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


UNPRICED_ROWS = "cost_source = 'unpriced'"


class Request(Base):
    """One logical client request (its upstream tries are ``attempts`` rows)."""

    __tablename__ = "requests"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    started_at: Mapped[datetime]
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
    cost_note: Mapped[str | None] = mapped_column(String(300))
    # built-in tool calls, billed per call (migration 0013)
    web_search_calls: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    web_search_preview_calls: Mapped[int] = mapped_column(
        Integer, default=0, server_default=text("0")
    )
    file_search_calls: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    code_interpreter_sessions: Mapped[int] = mapped_column(
        Integer, default=0, server_default=text("0")
    )
    image_generation_calls: Mapped[int] = mapped_column(
        Integer, default=0, server_default=text("0")
    )
    computer_calls: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # the Batch API job a line of output belongs to (migration 0014)
    batch_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # a response cache hit: the cost of the answer it replayed, which it saved (migration 0020)
    saved_usd: Mapped[Decimal | None]
    # prompt tokens written to the prompt cache, part of prompt_tokens (migration 0022)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # who served the answer: openai, anthropic, google or other (migration 0025)
    provider: Mapped[str] = mapped_column(String(20), default="openai", server_default="openai")

    __table_args__ = (
        # time ranges; the duration sort checks its bound in the index (migration 0011)
        Index("ix_requests_started_duration", "started_at", "duration_ms"),
        Index("ix_requests_project_started", "project_id", "started_at"),
        Index("ix_requests_model_started", "model_served", "started_at"),
        # the error breakdown's partial-hour edges (0005 narrowed 0004's covering index to this)
        Index("ix_requests_outcome_started", "outcome", "started_at"),
        Index("ix_requests_key_started", "api_key_id", "started_at"),
        # the requests table sorted by cost walks this on wide ranges (migration 0008)
        Index("ix_requests_cost_usd_id", "cost_usd", "id"),
        # the search finds a request by its upstream id without reading the range (0017)
        Index("ix_requests_upstream_request_id", "upstream_request_id"),
        # the unpriced rows retention keeps, found without reading a month (migration 0031)
        Index("ix_requests_unpriced_started", "started_at",
              sqlite_where=text(UNPRICED_ROWS), postgresql_where=text(UNPRICED_ROWS)),
    )  # fmt: skip


class BatchJob(Base):
    """A Batch API job relayed by the gateway: its upstream state, its attribution, and how
    much of its output has been recorded (each line becomes a ``requests`` row)."""

    __tablename__ = "batch_jobs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the upstream batch id
    upstream: Mapped[str | None] = mapped_column(String(100))
    endpoint: Mapped[str] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(200))
    input_file_id: Mapped[str | None] = mapped_column(String(200))
    output_file_id: Mapped[str | None] = mapped_column(String(200))
    error_file_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    request_total: Mapped[int] = mapped_column(Integer, default=0)
    request_completed: Mapped[int] = mapped_column(Integer, default=0)
    request_failed: Mapped[int] = mapped_column(Integer, default=0)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    end_user: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]  # when upstream ended it (completed/failed/...)
    updated_at: Mapped[datetime]
    lines_recorded: Mapped[int] = mapped_column(Integer, default=0)
    recorded_at: Mapped[datetime | None]  # output and error files handed to the recorder
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    # "batch", or "response": a background Responses API response (its id, endpoint responses)
    kind: Mapped[str] = mapped_column(String(20), default="batch", server_default="batch")
    request_id: Mapped[str | None] = mapped_column(String(32))  # a response: the creating row
    # what its rows cost, set once by whoever closes it, so that a hard-budget settle booking
    # its estimate later books this instead (``budgets._bookings``): priced, unpriced of lines
    closed_priced_usd: Mapped[Decimal | None]
    closed_unpriced: Mapped[int | None] = mapped_column(Integer)
    closed_lines: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_batch_jobs_project_created", "project_id", "created_at"),
        Index("ix_batch_jobs_recorded_at", "recorded_at"),
    )


class GatewayFile(Base):
    """A file uploaded through the gateway (Files API): the project that owns it. Another
    project's requests about it, and requests about files never uploaded here, are 404s."""

    __tablename__ = "gateway_files"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # the upstream file id
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    purpose: Mapped[str | None] = mapped_column(String(40))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_gateway_files_project_created", "project_id", "created_at"),)


REFUSED_TRIES = "http_status IN (401, 403)"


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
    # who served this try (migration 0025)
    provider: Mapped[str] = mapped_column(String(20), default="openai", server_default="openai")
    upstream_key_last4: Mapped[str | None] = mapped_column(String(4))  # the key's last 4 only

    # tries the upstream refused (401/403): a few rows, read often (migration 0026)
    __table_args__ = (
        Index("ix_attempts_refused_started", "started_at",
              sqlite_where=text(REFUSED_TRIES), postgresql_where=text(REFUSED_TRIES)),
    )  # fmt: skip


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


class BudgetBooking(Base):
    """Spend booked on a hard-budget counter once, under a key naming what it was for: a
    reported call (``ingest:<request id>``, so a replayed ingest call books nothing again) or
    a Batch API job's estimate (``job:<batch id>``, replaced by its lines' cost once they are
    recorded)."""

    __tablename__ = "budget_bookings"
    # the hourly clean of reported calls' bookings reads one budget's ended periods (0027)
    __table_args__ = (Index("ix_budget_bookings_budget_period", "budget_id", "period_start"),)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    budget_id: Mapped[int] = mapped_column(
        ForeignKey("budgets.id", ondelete="CASCADE"), primary_key=True
    )
    period_start: Mapped[datetime]
    amount_usd: Mapped[Decimal]
    created_at: Mapped[datetime] = mapped_column(index=True)


class MaintenanceRun(Base):
    """One run of the database maintenance (retention) per interval slot: the process whose
    insert of the slot's row lands runs it, so one process across the deployment does."""

    __tablename__ = "maintenance_runs"
    slot: Mapped[datetime] = mapped_column(primary_key=True)
    claimed_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    requests_deleted: Mapped[int] = mapped_column(Integer, default=0)
