"""Budget definitions in the database: load as validated specs, create, update, delete."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from collector.budgets._errors import BudgetConfigError
from collector.budgets._period import Period, PeriodKind
from collector.budgets._scope import Scope, ScopeKind
from collector.budgets._spec import DEFAULT_THRESHOLDS, BudgetSpec, Mode, check_no_overlap
from collector.db import Budget, session_scope


def spec_from_row(row: Budget) -> BudgetSpec:
    kind = PeriodKind(row.period)
    raw = row.thresholds.get("percents") if row.thresholds else None
    return BudgetSpec(
        id=row.id,
        name=row.name,
        scope=Scope(ScopeKind(row.scope_kind), row.scope_value),
        period=Period(kind, row.rolling_days if kind is PeriodKind.ROLLING else None),
        amount_usd=row.amount_usd,
        mode=Mode(row.mode),
        thresholds=tuple(int(t) for t in raw) if raw else DEFAULT_THRESHOLDS,
    )


def _apply(row: Budget, spec: BudgetSpec, now: datetime) -> None:
    row.name = spec.name
    row.scope_kind = spec.scope.kind.value
    row.scope_value = spec.scope.value
    row.period = spec.period.kind.value
    row.rolling_days = spec.period.days
    row.amount_usd = spec.amount_usd
    row.mode = spec.mode.value
    row.thresholds = {"percents": list(spec.thresholds)}
    row.updated_at = now


def _all(session: Session) -> list[BudgetSpec]:
    rows = session.scalars(select(Budget).order_by(Budget.id))
    return [spec_from_row(row) for row in rows]


def load_budgets(engine: Engine) -> list[BudgetSpec]:
    """Every budget, ordered by id (the lock order reservations use)."""
    with session_scope(engine) as session:
        return _all(session)


def create_budget(engine: Engine, spec: BudgetSpec, now: datetime) -> BudgetSpec:
    """Store a new budget; refuse duplicate names and overlapping definitions."""
    with session_scope(engine) as session:
        existing = _all(session)
        if any(b.name == spec.name for b in existing):
            raise BudgetConfigError(f"a budget named {spec.name!r} already exists")
        check_no_overlap(spec, existing)
        row = Budget(created_at=now)
        _apply(row, spec, now)
        session.add(row)
        session.flush()
        return replace(spec, id=row.id)


def update_budget(
    engine: Engine,
    name: str,
    now: datetime,
    *,
    amount_usd: Decimal | None = None,
    mode: Mode | None = None,
    thresholds: tuple[int, ...] | None = None,
    new_name: str | None = None,
) -> BudgetSpec:
    """Change some fields of a budget; the result is validated like a new one."""
    with session_scope(engine) as session:
        row = session.scalars(select(Budget).where(Budget.name == name)).first()
        if row is None:
            raise BudgetConfigError(f"no budget named {name!r}")
        old = spec_from_row(row)
        spec = replace(
            old,
            name=new_name if new_name is not None else old.name,
            amount_usd=amount_usd if amount_usd is not None else old.amount_usd,
            mode=mode if mode is not None else old.mode,
            thresholds=thresholds if thresholds is not None else old.thresholds,
        )
        others = [b for b in _all(session) if b.id != old.id]
        if any(b.name == spec.name for b in others):
            raise BudgetConfigError(f"a budget named {spec.name!r} already exists")
        check_no_overlap(spec, others)
        _apply(row, spec, now)
        return spec


def delete_budget(engine: Engine, name: str) -> bool:
    """Delete a budget (its counters and open holds go with it); False if absent."""
    with session_scope(engine) as session:
        row = session.scalars(select(Budget).where(Budget.name == name)).first()
        if row is None:
            return False
        session.delete(row)
        return True
