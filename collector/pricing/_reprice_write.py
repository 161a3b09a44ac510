"""The write half of repricing: guarded row updates and the rollup deltas that follow them.

Every change to a row's cost moves its hourly, tag and upstream rollup rows by exactly the
difference, in the same transaction, so rollups keep equalling the sum of raw rows; a batch /
flex row's tier rollup rows also gain (or lose) its tokens when it becomes priced (or unpriced).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Connection, Table, and_, bindparam
from sqlalchemy import update as sql_update

from collector.db.base import table_of
from collector.db.models import Request
from collector.errors import StorageError
from collector.usage import Cost, CostSource

_REQUESTS = table_of(Request)
_R = _REQUESTS.c


class PlannedRow(Protocol):
    """A stored row with its new price (None: left as recorded)."""

    @property
    def row(self) -> Any: ...
    @property
    def new(self) -> Cost | None: ...
    @property
    def changed(self) -> bool: ...


class RepriceConflict(StorageError):
    """Rows changed between read and write (another reprice running?); the batch rolled back."""


_ROW_UPDATE = (
    sql_update(_REQUESTS)
    .where(
        _R.id == bindparam("b_id"),
        _R.cost_source == bindparam("b_old_source"),
        _R.cost_usd.is_not_distinct_from(bindparam("b_old_cost")),
    )
    .values(
        cost_usd=bindparam("b_cost"),
        cost_source=bindparam("b_source"),
        price_id=bindparam("b_price_id"),
        cost_note=bindparam("b_note"),
        previous_cost_usd=bindparam("b_previous"),
        repriced_at=bindparam("b_now"),
    )
)


def _note(row: Any, new: Cost) -> str | None:
    """The new cost's note; an estimate keeps the basis it was recorded with."""
    if new.note is not None:
        return new.note
    return row.cost_note if new.cost_source is CostSource.ESTIMATED else None


def update_rows(conn: Connection, plans: Sequence[PlannedRow], now: datetime) -> None:
    """Guarded by the old values, so two concurrent runs cannot both move the rollups."""
    params = []
    for plan in plans:
        row, new = plan.row, plan.new
        assert new is not None  # noqa: S101 - type narrowing
        params.append(
            {
                "b_id": row.id,
                "b_old_source": row.cost_source,
                "b_old_cost": row.cost_usd,
                "b_cost": new.cost_usd,
                "b_source": new.cost_source.value,
                "b_price_id": new.price_id,
                "b_note": _note(row, new),
                "b_previous": row.cost_usd if plan.changed else row.previous_cost_usd,
                "b_now": now,
            }
        )
    if not params:
        return
    done = conn.execute(_ROW_UPDATE, params).rowcount
    if done != len(params):
        raise RepriceConflict(
            f"{len(params) - done} rows changed while being repriced "
            "(is another reprice running?); the batch was rolled back, rerun to resume"
        )


Deltas = dict[tuple[Any, ...], dict[str, Any]]


def row_deltas(changed: Sequence[PlannedRow]) -> tuple[Deltas, Deltas]:
    """Per rollup key (as the recorder keys it): cost and unpriced/estimated count changes."""
    rollups: Deltas = {}
    tags: Deltas = {}
    for plan in changed:
        row, hour, model, changes = _change(plan)
        project = row.project_id or 0
        key = (hour, project, row.api_key_id or 0, row.end_user or "", model, row.outcome)
        bump(rollups, key, **changes)
        for name, value in (row.tags or {}).items():
            tag_key = (hour, f"{name}={value}", project, model, row.outcome)
            bump(tags, tag_key, cost_usd=changes["cost_usd"])
    return rollups, tags


def _change(plan: PlannedRow) -> tuple[Any, datetime, str, dict[str, Any]]:
    """A changed row, its hour and model as the recorder keys them, and what changed: cost
    and the unpriced / estimated counts."""
    row, new = plan.row, plan.new
    assert new is not None  # noqa: S101 - type narrowing
    changes = {
        "cost_usd": (new.cost_usd or Decimal(0)) - (row.cost_usd or Decimal(0)),
        "unpriced_requests": (new.cost_source == "unpriced") - (row.cost_source == "unpriced"),
        "estimated_requests": (new.cost_source == "estimated") - (row.cost_source == "estimated"),
    }
    hour = row.started_at.replace(minute=0, second=0, microsecond=0)
    return row, hour, row.model_served or row.model_requested or "", changes


def upstream_deltas(changed: Sequence[PlannedRow]) -> Deltas:
    """Per upstream rollup key, by hour (the table is daily): cost and counts changes."""
    upstreams: Deltas = {}
    for plan in changed:
        row, hour, model, changes = _change(plan)
        bump(upstreams, (hour, row.upstream or "default", model, row.outcome), **changes)
    return upstreams


_TIER_TOKENS = (
    "prompt_tokens", "cached_tokens", "completion_tokens", "audio_prompt_tokens",
    "audio_completion_tokens",
)  # fmt: skip


def tier_deltas(changed: Sequence[PlannedRow]) -> Deltas:
    """Per tier rollup key: the cost change, and the row's tokens in or out of the priced sums."""
    tiers: Deltas = {}
    for plan in changed:
        row, new = plan.row, plan.new
        assert new is not None  # noqa: S101 - type narrowing
        if not (row.batch or row.service_tier == "flex"):
            continue
        cost = (new.cost_usd or Decimal(0)) - (row.cost_usd or Decimal(0))
        sign = (new.cost_usd is not None) - (row.cost_usd is not None)
        hour = row.started_at.replace(minute=0, second=0, microsecond=0)
        model = row.model_served or row.model_requested or ""
        key = (
            hour, row.project_id or 0, row.api_key_id or 0, row.end_user or "", model,
            row.outcome, "batch" if row.batch else "flex",
        )  # fmt: skip
        tokens = {name: sign * getattr(row, name) for name in _TIER_TOKENS}
        bump(tiers, key, cost_usd=cost, priced_requests=sign, **tokens)
    return tiers


def bump(groups: Deltas, key: tuple[Any, ...], **amounts: Any) -> None:
    group = groups.setdefault(key, dict.fromkeys(amounts, 0))
    for name, amount in amounts.items():
        group[name] += amount


def apply_deltas(conn: Connection, table: Table, keys: Sequence[str], groups: Deltas) -> int:
    """Add the deltas to existing rollup rows; returns how many rows were not found.

    A missing rollup row is not created: a row holding only a difference would show spend
    without requests. It is counted instead (the rollups were already short of the raws).
    """
    params = [
        {f"k_{k}": v for k, v in zip(keys, key, strict=True)}
        | {f"d_{name}": amount for name, amount in amounts.items()}
        for key, amounts in groups.items()
        if any(amounts.values())
    ]
    if not params:
        return 0
    counters = sorted(next(iter(groups.values())))
    statement = (
        sql_update(table)
        .where(and_(*(table.c[k] == bindparam(f"k_{k}") for k in keys)))
        .values({c: table.c[c] + bindparam(f"d_{c}", type_=table.c[c].type) for c in counters})
    )
    return len(params) - int(conn.execute(statement, params).rowcount)
