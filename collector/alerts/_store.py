"""Alert rules and events in the database.

Exactly-once across processes: an alert is *claimed* by inserting its ``dedup_key`` into
``alert_events`` (unique); only the process whose insert lands sends it. Resolution is a
conditional UPDATE from ``firing`` that also renames the key (appending ``|resolved@…``) so
the same condition can fire again later; only the process whose update lands sends recovery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from collector.alerts._channels import channels_from_json, channels_to_json
from collector.alerts._params import validate_params
from collector.alerts._types import Alert, AlertConfigError, ChannelConfig, Rule, RuleKind
from collector.budgets import Scope, ScopeKind, parse_scope
from collector.db import AlertEvent, AlertRule, Budget, session_scope, table_of
from collector.settings import Settings

_E = table_of(AlertEvent)
FIRING, RESOLVED = "firing", "resolved"


@dataclass(frozen=True, slots=True)
class FiringEvent:
    id: int
    rule_id: int
    dedup_key: str
    message: str
    payload: Mapping[str, Any]


def _rule(row: AlertRule) -> Rule:
    scope = Scope(ScopeKind(row.scope_kind or "global"), row.scope_value)
    channels = channels_from_json(row.channels)
    return Rule(row.id, row.name, RuleKind(row.kind), scope, dict(row.params), channels)


def add_rule(
    engine: Engine,
    name: str,
    kind: str,
    scope: str,
    params: Mapping[str, Any],
    channels: tuple[ChannelConfig, ...],
    now: datetime,
) -> int:
    """Validate and store a rule; channel configs must already be parsed (checked)."""
    try:
        rule_kind = RuleKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in RuleKind)
        raise AlertConfigError(f"unknown rule kind {kind!r}; use {known}") from None
    parsed = parse_scope(scope)
    full = validate_params(rule_kind, parsed, params)
    with session_scope(engine) as session:
        if session.scalars(select(AlertRule.id).where(AlertRule.name == name)).first():
            raise AlertConfigError(f"an alert rule named {name!r} already exists")
        watched = full.get("budget")
        if (
            watched is not None
            and not session.scalars(select(Budget.id).where(Budget.name == str(watched))).first()
        ):
            raise AlertConfigError(
                f"no budget named {watched!r}: `spendscope budgets list` shows the budgets"
            )
        row = AlertRule(
            name=name, kind=rule_kind.value, scope_kind=parsed.kind.value,
            scope_value=parsed.value, params=full, channels=channels_to_json(channels),
            enabled=True, created_at=now,
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def load_rules(
    engine: Engine, settings: Settings | None = None, *, enabled_only: bool = True
) -> list[Rule]:
    """Rules as stored. Channels are not re-validated against ``settings`` here (delivery
    checks them), so a channel gone bad never hides the rules; ``settings`` is accepted for
    existing callers and unused."""
    with session_scope(engine) as session:
        stmt = select(AlertRule).order_by(AlertRule.id)
        if enabled_only:
            stmt = stmt.where(AlertRule.enabled.is_(True))
        return [_rule(row) for row in session.scalars(stmt)]


def delete_rule(engine: Engine, name: str) -> bool:
    with session_scope(engine) as session:
        row = session.scalars(select(AlertRule).where(AlertRule.name == name)).first()
        if row is None:
            return False
        session.delete(row)
        return True


def claim(engine: Engine, alert: Alert, now: datetime) -> int | None:
    """Insert the firing event; its id if this process won the key, else None."""
    with engine.begin() as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(_E).values(
            rule_id=alert.rule_id, dedup_key=alert.dedup_key, state=FIRING, fired_at=now,
            message=alert.message,
            payload={"kind": alert.kind.value, "rule": alert.rule_name, **alert.details},
            deliveries={},
        )  # fmt: skip
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedup_key"]).returning(_E.c.id)
        return conn.execute(stmt).scalar()


def firing_events(engine: Engine, rule_id: int) -> list[FiringEvent]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(_E.c.id, _E.c.rule_id, _E.c.dedup_key, _E.c.message, _E.c.payload).where(
                _E.c.rule_id == rule_id, _E.c.state == FIRING
            )
        ).all()
    return [FiringEvent(*row) for row in rows]


def resolve(engine: Engine, event: FiringEvent, now: datetime) -> bool:
    """Mark resolved (and free the key); True for exactly one caller."""
    suffix = f"|resolved@{now.isoformat()}#{event.id}"
    with engine.begin() as conn:
        done = conn.execute(
            update(_E)
            .where(_E.c.id == event.id, _E.c.state == FIRING)
            .values(state=RESOLVED, resolved_at=now, dedup_key=event.dedup_key + suffix)
        )
    return done.rowcount == 1


def record_deliveries(engine: Engine, event_id: int, phase: str, results: dict[str, Any]) -> None:
    """Store one phase's (fire/resolve) per-channel results in ``deliveries``."""
    with session_scope(engine) as session:
        row = session.get(AlertEvent, event_id)
        if row is not None:
            row.deliveries = {**row.deliveries, phase: results}


def list_events(engine: Engine, limit: int = 100, offset: int = 0) -> list[AlertEvent]:
    """Events newest first; ``offset`` skips that many (paging)."""
    with session_scope(engine) as session:
        stmt = select(AlertEvent).order_by(AlertEvent.fired_at.desc(), AlertEvent.id.desc())
        return list(session.scalars(stmt.limit(limit).offset(offset)))
