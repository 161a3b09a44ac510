"""Price overrides in the database (table ``price_overrides``) ↔ ``PriceOverride`` values.

The shell around the pure engine: callers load overrides once (or on change) and pass
them to :func:`compute_cost`. SQLAlchemy is imported on call, so importing pricing stays cheap.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from collector.pricing._types import PriceOverride

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from collector.db.models import PriceOverride as PriceOverrideRow


def load_overrides(session: Session) -> list[PriceOverride]:
    """Every stored override, oldest first, as validated values."""
    from sqlalchemy import select

    from collector.db.models import PriceOverride as Row

    rows = session.scalars(select(Row).order_by(Row.effective_from, Row.id)).all()
    return [_to_value(row) for row in rows]


def stored_overrides(database_url: str, *, busy_timeout_ms: int = 5000) -> list[PriceOverride]:
    """Overrides from a reachable, migrated database; else none, so price tools work offline.

    A missing SQLite file is not created, and a missing table or refused connection is not an
    error: the catalog alone answers then.
    """
    from pathlib import Path

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from collector.db import make_engine, session_scope
    from collector.errors import SpendscopeError

    try:
        url = make_url(database_url)
    except SQLAlchemyError:
        return []
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not Path(url.database).is_file():
            return []
        engine = make_engine(database_url, busy_timeout_ms=busy_timeout_ms)
    else:
        engine = make_engine(database_url, connect_args={"connect_timeout": 3})
    try:
        with session_scope(engine) as session:
            return load_overrides(session)
    except (SQLAlchemyError, SpendscopeError):
        return []
    finally:
        engine.dispose()


def add_override(
    session: Session, override: PriceOverride, *, now: datetime | None = None
) -> PriceOverride:
    """Stage ``override`` in ``session`` (the caller commits); returns it with its row id."""
    from collector.db.models import PriceOverride as Row

    row = Row(
        model=override.model,
        effective_from=override.effective_from,
        effective_to=override.effective_to,
        input_per_1m=override.input_per_1m,
        cached_input_per_1m=override.cached_input_per_1m,
        output_per_1m=override.output_per_1m,
        discount_pct=override.discount_pct,
        note=override.note,
        created_at=now if now is not None else datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return replace(override, id=str(row.id))


def _to_value(row: PriceOverrideRow) -> PriceOverride:
    return PriceOverride(
        id=str(row.id),
        model=row.model,
        effective_from=row.effective_from,
        effective_to=row.effective_to,
        input_per_1m=row.input_per_1m,
        cached_input_per_1m=row.cached_input_per_1m,
        output_per_1m=row.output_per_1m,
        discount_pct=row.discount_pct,
        note=row.note,
    )
