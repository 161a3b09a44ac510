"""The storage settings, declared apart to keep ``collector.settings`` small: ``Settings``
inherits them, so they are still read, documented and overridden through the one object."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings


class StorageSettings(BaseSettings):
    """Where requests are stored and kept (the first group of ``Settings``' variables)."""

    # --- storage -------------------------------------------------------------------------
    database_url: str = Field(
        "sqlite:///./spendscope.db",
        description="SQLAlchemy URL. SQLite file by default; postgresql+psycopg://… for teams.",
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
        description="How often one gateway process applies the retention "
        "(`spendscope db maintain` does it on demand).",
    )

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value
