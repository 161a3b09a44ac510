"""OpenAI's own bill, as the Costs and Usage APIs report it, and the claims of the daily job.

``bill_lines`` holds one row per API result: a Costs result (``source = 'costs'``, billed
USD) or a Usage result (``source`` = the usage endpoint, token and unit counts). Re-fetching
a day deletes and re-inserts that day's rows in one transaction; ``bill_days`` says which
days were fetched (an empty day is a fetched day with no rows). ``reconcile_runs`` holds one
row per UTC day on which the gateway's job ran: its unique key makes one process run it.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Date, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, MappedColumn, mapped_column

from collector.db.base import Base

_ZERO = text("0")


def _count() -> MappedColumn[int]:
    return mapped_column(BigInteger, nullable=False, default=0, server_default=_ZERO)


class BillLine(Base):
    """One result of OpenAI's Costs API or of one of its Usage APIs, for one UTC day."""

    __tablename__ = "bill_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(40))
    line_item: Mapped[str] = mapped_column(String(200), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    project_id: Mapped[str] = mapped_column(String(100), default="")
    api_key_id: Mapped[str] = mapped_column(String(100), default="")
    batch: Mapped[bool] = mapped_column(Boolean, default=False)
    billed_usd: Mapped[Decimal | None]
    input_tokens: Mapped[int] = _count()
    input_cached_tokens: Mapped[int] = _count()
    output_tokens: Mapped[int] = _count()
    input_audio_tokens: Mapped[int] = _count()
    output_audio_tokens: Mapped[int] = _count()
    requests: Mapped[int] = _count()
    images: Mapped[int] = _count()
    seconds: Mapped[int] = _count()
    characters: Mapped[int] = _count()
    fetched_at: Mapped[datetime]

    __table_args__ = (Index("ix_bill_lines_day_source", "day", "source"),)


class BillDay(Base):
    """A UTC day whose bill was fetched (with or without lines), and when."""

    __tablename__ = "bill_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    fetched_at: Mapped[datetime]


class ReconcileRun(Base):
    """The daily reconciliation of one UTC day: the process whose insert lands runs it."""

    __tablename__ = "reconcile_runs"
    run_day: Mapped[date] = mapped_column(Date, primary_key=True)
    claimed_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(Text)
