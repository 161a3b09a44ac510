"""One line of a Batch API output or error file → one priced ``UsageEvent`` (pure: no I/O).

A line is ``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}``.
Its usage is read from ``body`` as the endpoint's own response would be (the same readers as
relayed requests), priced at Batch API rates (``batch=True``) for the model that served it,
and attributed to the job's key. Its request id is derived from (job id, ``custom_id`` — or
the line's place when it has none), so however often a file is read, a line is one row.
Lines that failed consumed nothing (``computed`` $0); lines a job never ran (``batch_expired``,
``batch_cancelled``) are ``timeout`` and ``cancelled``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from collector.batches import JobRef
from collector.budgets import JobCost
from collector.errors import PricingError
from collector.gateway._exchange import outcome_for_status
from collector.gateway._intake import ENDPOINTS, Call, Kind
from collector.gateway._usage import usage_from_body
from collector.pricing import PriceOverride, compute_cost
from collector.recorder import AttemptEvent, UsageEvent, derived_request_id, set_usage_columns
from collector.usage import Cost, CostSource, Outcome, Usage

log = logging.getLogger(__name__)
CUSTOM_ID = "batch_custom_id"  # the metadata key holding a line's custom_id
_ZERO = Cost(Decimal(0), CostSource.COMPUTED)
_UNPRICED = Cost(None, CostSource.UNPRICED)
_NOT_RUN = {"batch_expired": Outcome.TIMEOUT, "batch_cancelled": Outcome.CANCELLED}
_MEMO_MOST = 64  # costs a run of lines remembers (few: more would only feed the collector)

# A run of lines' costs by (model, usage, time): the pricing engine is pure, so lines that
# ask the same question get the same answer (a job's lines often share their usage exactly).
PriceMemo = dict[tuple[str, Usage, datetime], Cost]


@dataclass(frozen=True, slots=True)
class LineContext:
    """What every line of one job shares."""

    job: JobRef
    ended_at: datetime  # when the job ended: a line's time when its body names none
    overrides: Sequence[PriceOverride] = ()

    @property
    def call(self) -> Call:
        kind = ENDPOINTS.get(("POST", self.job.endpoint), Kind.OTHER)
        return Call("POST", self.job.endpoint, b"", kind, b"", "application/json")


@dataclass(slots=True)
class LineTally:
    """What a job's recorded lines cost: the exact sum of the priced ones, and how many could
    not be priced (they keep their share of the job's estimate on its hard budgets)."""

    lines: int = 0
    unpriced: int = 0
    priced_usd: Decimal = Decimal(0)
    model: str | None = None  # the first model seen

    def add(self, event: UsageEvent) -> None:
        self.lines += 1
        self.model = self.model or event.model_served
        if event.cost_usd is None:
            self.unpriced += 1
        else:
            self.priced_usd += event.cost_usd

    @property
    def cost(self) -> JobCost:
        """What replaces the job's estimate on its hard budgets."""
        return JobCost(self.priced_usd, self.unpriced, self.lines)

    @property
    def unpriced_share(self) -> Decimal:
        return self.cost.unpriced_share


def line_events(
    raws: Iterable[bytes], kind: str, first: int, ctx: LineContext, call: Call
) -> list[UsageEvent]:
    """The events of a run of raw lines of a ``kind`` file numbered from ``first`` (a line that
    is not JSON is a failed line), each line's cost asked of the engine once per run."""
    memo: PriceMemo = {}
    out: list[UsageEvent] = []
    for place, raw in enumerate(raws, first):
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            line = None
        out.append(line_event(line, f"{kind}:{place}", ctx, call, memo))
    return out


def line_event(
    line: Any, place: str, ctx: LineContext, call: Call, memo: PriceMemo | None = None
) -> UsageEvent:
    """The request row of one decoded line; ``place`` names it when it has no ``custom_id``.
    ``memo`` (from :func:`line_events`) keeps the costs already computed for this run."""
    row = line if isinstance(line, dict) else {}
    custom_id = row.get("custom_id") if isinstance(row.get("custom_id"), str) else None
    response = row.get("response") if isinstance(row.get("response"), dict) else None
    body = response.get("body") if response is not None else None
    status = response.get("status_code") if response is not None else None
    status = status if isinstance(status, int) and not isinstance(status, bool) else None
    job = ctx.job
    started = _started(body, ctx.ended_at)
    event = UsageEvent(
        id=derived_request_id(job.created_at, f"{job.id}\0{custom_id or place}"),
        started_at=started, duration_ms=0.0, endpoint=job.endpoint[:100], outcome="success",
        cost_source="computed", project_id=job.project_id, api_key_id=job.api_key_id,
        end_user=job.end_user, tags=dict(job.tags), http_status=status, batch=True,
        batch_id=job.id, upstream=job.upstream,
        upstream_request_id=_str(response.get("request_id")) if response else None,
        metadata={CUSTOM_ID: custom_id} if custom_id is not None else {"batch_line": place},
    )  # fmt: skip
    model = _str(body.get("model")) if isinstance(body, dict) else None
    event.model_served = model
    cost = _settle(event, row, body, status, call, ctx, memo)
    event.cost_usd, event.cost_source = cost.cost_usd, cost.cost_source.value
    event.price_id, event.cost_note = cost.price_id, cost.note[:300] if cost.note else None
    event.attempts = [_attempt(event)]
    return event


def _settle(
    event: UsageEvent, row: dict[str, Any], body: Any, status: int | None, call: Call,
    ctx: LineContext, memo: PriceMemo | None,
) -> Cost:  # fmt: skip
    """Outcome, errors and usage of the line; returns its cost."""
    if status is None or status >= 400:
        _failed(event, row, body, status)
        return _ZERO
    usage = usage_from_body(call, body)
    if usage is None:
        return _UNPRICED
    set_usage_columns(event, usage)
    model = event.model_served
    if model is None:
        return _UNPRICED
    if memo is None:
        return _price(usage, model, event, ctx)
    key = (model, usage, event.started_at)
    cost = memo.get(key)
    if cost is None:
        if len(memo) >= _MEMO_MOST:
            memo.clear()
        cost = memo[key] = _price(usage, model, event, ctx)
    return cost


def _price(usage: Usage, model: str, event: UsageEvent, ctx: LineContext) -> Cost:
    try:
        return compute_cost(usage, model, event.started_at, batch=True, overrides=ctx.overrides)
    except PricingError as exc:
        log.warning("batches: cannot price line %s: %s", event.id, exc)
        return _UNPRICED


def _failed(event: UsageEvent, row: dict[str, Any], body: Any, status: int | None) -> None:
    found = body.get("error") if isinstance(body, dict) else None
    if not isinstance(found, dict):
        found = row.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    code = _str(error.get("code")) or _str(error.get("type"))
    if status is not None:
        event.outcome = outcome_for_status(status).value
    else:
        event.outcome = _NOT_RUN.get(code or "", Outcome.UPSTREAM_ERROR).value
    event.error_type = (code or (f"http_{status}" if status else "batch_line_failed"))[:100]
    event.error_message = (_str(error.get("message")) or "")[:1000] or None


def _attempt(event: UsageEvent) -> AttemptEvent:
    """The line's one try (the Batch API retries inside the job, unseen)."""
    return AttemptEvent(
        attempt_no=1, started_at=event.started_at, duration_ms=0.0, model=event.model_served,
        upstream=event.upstream, http_status=event.http_status, error_type=event.error_type,
        error_message=event.error_message, prompt_tokens=event.prompt_tokens,
        completion_tokens=event.completion_tokens, cost_usd=event.cost_usd,
    )  # fmt: skip


def _started(body: Any, ended_at: datetime) -> datetime:
    """When upstream answered the line (``created`` / ``created_at``), else the job's end."""
    if isinstance(body, dict):
        for key in ("created", "created_at"):
            stamp = body.get(key)
            if isinstance(stamp, int | float) and not isinstance(stamp, bool) and stamp > 0:
                try:
                    return datetime.fromtimestamp(stamp, UTC)
                except (OverflowError, OSError, ValueError):
                    break
    return ended_at


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
