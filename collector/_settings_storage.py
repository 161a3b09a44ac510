"""The storage settings, declared apart to keep ``collector.settings`` small: ``Settings``
inherits them, so they are still read, documented and overridden through the one object."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class StorageSettings(BaseSettings):
    """Where requests are stored and kept (the first group of ``Settings``' variables)."""

    # --- storage -------------------------------------------------------------------------
    database_url: str = Field(
        "sqlite:///./spendscope.db",
        description="SQLAlchemy URL. SQLite file by default; postgresql+psycopg://… for teams.",
    )
    read_database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of a read replica (a PostgreSQL streaming standby of "
        "database_url). The dashboard, the reports and the alert evaluator's measurements read "
        "from it; the gateway, the recorder, hard budgets and every write use database_url. "
        "Unset: everything reads database_url.",
    )
    replica_lag_bound_s: float = Field(
        30.0,
        gt=0,
        description="The dashboard shows a banner while the read replica is further behind "
        "the primary than this many seconds.",
    )
    spool_dir: Path = Field(
        Path("./.spendscope/spool"),
        description="Directory of the durable on-disk spool used while the database is down.",
    )
    sqlite_busy_timeout_ms: int = Field(5000, ge=0, description="SQLite busy timeout.")
    retention_days: int | None = Field(
        None,
        ge=1,
        description="Keep raw requests and attempts this many days (unset: keep everything). "
        "Rollups, budgets and reconciliation data are kept forever, so reports stay exact; "
        "unpriced requests are kept for follow-up.",
    )
    maintenance_interval_s: float = Field(
        3600.0,
        gt=0,
        description="How often one gateway process applies the retention and, on PostgreSQL, "
        "creates the monthly partitions ahead (`spendscope db maintain` does both on demand).",
    )

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("read_database_url")
    @classmethod
    def _known_read_backend(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("postgresql", "postgres://", "sqlite")):
            raise ValueError("must be a postgresql+psycopg:// URL (or sqlite:///)")
        try:
            make_url(value)
        except ArgumentError:
            raise ValueError("is not a database URL (postgresql+psycopg://user@host/db)") from None
        return value

    @property
    def reads_from_replica(self) -> bool:
        """Whether reads go to a database of their own (``read_database_url``)."""
        return self.read_database_url is not None and self.read_database_url != self.database_url

    @property
    def read_url(self) -> str:
        """The URL that read-only consumers (dashboard, reports, alert measurements) open."""
        return self.read_database_url or self.database_url
