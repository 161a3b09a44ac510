"""Background Responses API responses: registered when upstream accepts one, and, once it has
ended, its usage as one priced request row (pure, but for the registration).

``POST /v1/responses`` with ``background: true`` is answered at once, ``queued`` (or
``in_progress``) and without usage; the model runs upstream afterwards and OpenAI bills it
when it ends. The creating request is booked ``unpriced`` with ``pricing.BACKGROUND_NOTE``
(never $0, never counted as unknown spend), the response is kept in ``batch_jobs`` (``kind``
``response``) with the key's attribution, and the batch poller follows it
(``GET /v1/responses/{id}``) until it has ended. Then :func:`response_event` makes its one
request row: endpoint ``/v1/responses``, priced at the model's normal rates and the service
tier the response names, its id derived from the response id (however often it is read, by
however many processes, it is one row), ``batch_id`` the response id and the creating row's id
in its metadata. A background stream is registered from its first event, before the client
sees it (``_stored_responses``), and whoever sees the end first — that stream, a resumed
one, a client's read, or the poller — hands that one row over; a response whose end can no
longer be read (deleted, or 404 in a row) is one ``unpriced`` row instead (:func:`lost_event`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from collector.batches import DELETED, RESPONSE_OPEN, JobRef, register_response
from collector.budgets import JobCost, job_ticket
from collector.errors import PricingError
from collector.gateway._intake import Call, Kind
from collector.gateway._usage import usage_from_body
from collector.pricing import PriceOverride, compute_cost
from collector.providers import OPENAI
from collector.recorder import (
    BACKGROUND_KEY,
    AttemptEvent,
    UsageEvent,
    background_note,
    derived_request_id,
    usage_columns,
)
from collector.usage import Cost, CostSource, Outcome

if TYPE_CHECKING:
    from collector.gateway._exchange import Exchange
    from collector.gateway._files import Owners

log = logging.getLogger(__name__)
STORED_RESPONSES = "/v1/responses/"  # retrieve, cancel, delete, input items of one response
CREATED_BY = "background_request"  # the usage row's metadata key: the creating request's id
_RESPONSES = Call("POST", "/v1/responses", b"", Kind.RESPONSES, b"", "application/json")
_ZERO = Cost(Decimal(0), CostSource.COMPUTED)
_UNPRICED = Cost(None, CostSource.UNPRICED)
_OUTCOMES = {"cancelled": Outcome.CANCELLED, "failed": Outcome.UPSTREAM_ERROR}
# The note of a response whose usage is unknown (not one of ``pricing.DEFERRED_NOTES``).
LOST_NOTE = "background response: its end could not be read, so its usage is unknown"


def asks_background(call: Call) -> bool:
    """The request creates a background response (so its reservation is kept for it)."""
    return call.kind is Kind.RESPONSES and (call.body or {}).get("background") is True


def running(call: Call | None, wire: Any) -> dict[str, Any] | None:
    """The note of a response upstream accepted and is still running (None otherwise)."""
    if call is None or not asks_background(call) or not isinstance(wire, dict):
        return None
    if wire.get("status") not in RESPONSE_OPEN:
        return None
    note = background_note(wire)
    if note is not None and call.model:
        note["model"] = call.model[:200]  # the model asked for (the response names the served one)
    return note


def defer(ex: Exchange, note: dict[str, Any]) -> None:
    """Book ``ex`` as the start of a background response: its row carries the note (so the
    writer registers the response should the gateway's own write fail), its budget booking
    is kept under the response's id."""
    ex.notes = {**(ex.notes or {}), BACKGROUND_KEY: note}
    ticket = job_ticket()
    if ticket is not None:
        ticket.batch_id = str(note["id"])


async def register_started(owners: Owners, ex: Exchange) -> None:
    """Keep the response ``ex`` started in ``batch_jobs`` (a failure is logged: the recorder
    registers it from the row's note once the row reaches the database)."""
    note = (ex.notes or {}).get(BACKGROUND_KEY)
    principal, attribution = ex.principal, ex.attribution
    if not isinstance(note, dict) or principal is None:
        return
    try:
        await asyncio.to_thread(
            register_response, owners.engine, note, request_id=ex.id, upstream=ex.upstream,
            project_id=principal.project_id, api_key_id=principal.api_key_id,
            end_user=attribution.end_user if attribution else principal.end_user,
            tags=attribution.tags if attribution else principal.tags, now=ex.started_at,
        )  # fmt: skip
    except SQLAlchemyError:
        log.exception("gateway: background response %s not registered now", note.get("id"))


def row_cost(event: UsageEvent) -> JobCost:
    """What a response's one row costs on its hard budgets (unpriced: it keeps its estimate)."""
    if event.cost_usd is None:
        return JobCost(Decimal(0), unpriced=1, lines=1)
    return JobCost(event.cost_usd)


def response_event(
    job: JobRef, wire: Mapping[str, Any], overrides: Sequence[PriceOverride], now: datetime,
    *, regional: bool = False, provider: str | None = None,
) -> UsageEvent:  # fmt: skip
    """The one request row of an ended background response (``wire``: its ``Response``),
    priced as the upstream that ran it prices (``regional``, ``provider``)."""
    status = str(wire.get("status") or "")
    ended = _stamp(wire.get("completed_at")) or now
    event = UsageEvent(
        id=derived_request_id(job.created_at, f"{job.id}\0background"),
        started_at=job.created_at, duration_ms=max(0.0, (ended - job.created_at).total_seconds())
        * 1000, endpoint="/v1/responses", outcome=_OUTCOMES.get(status, Outcome.SUCCESS).value,
        cost_source="computed", model_requested=job.model,
        model_served=_str(wire.get("model")) or job.model, project_id=job.project_id,
        api_key_id=job.api_key_id, end_user=job.end_user, tags=dict(job.tags),
        http_status=200, provider=provider or OPENAI, upstream=job.upstream,
        service_tier=_str(wire.get("service_tier")),
        batch_id=job.id, metadata={CREATED_BY: job.request_id} if job.request_id else {},
    )  # fmt: skip
    if status == "failed":
        found = wire.get("error")
        error: Mapping[str, Any] = found if isinstance(found, dict) else {}
        event.error_type = (_str(error.get("code")) or "response_failed")[:100]
        event.error_message = (_str(error.get("message")) or "")[:1000] or None
    elif status == "cancelled":
        event.error_type, event.error_message = "cancelled", "the response was cancelled"
    usage = usage_from_body(_RESPONSES, dict(wire))
    if usage is None:
        cost = _ZERO if status in _OUTCOMES else _UNPRICED  # it ended having consumed nothing
    else:
        for name, value in usage_columns(usage).items():
            setattr(event, name, value)
        cost = _price(event, usage, overrides, regional, provider)
    event.cost_usd, event.cost_source = cost.cost_usd, cost.cost_source.value
    event.price_id, event.cost_note = cost.price_id, cost.note[:300] if cost.note else None
    event.attempts = [_attempt(event)]
    return event


def lost_event(job: JobRef, status: str, misses: int, now: datetime) -> UsageEvent:
    """The one row of a response whose end can no longer be read (``status``: ``DELETED``
    through the gateway, or ``NOT_FOUND`` after ``misses`` 404s in a row): ``unpriced`` with
    a note saying why — counted and alerted as unknown spend, never a silent $0."""
    if status == DELETED:
        why = "deleted through the gateway before its end was read"
    else:
        why = f"upstream answered 404 to {misses} reads in a row (deleted or expired)"
    event = UsageEvent(
        id=derived_request_id(job.created_at, f"{job.id}\0background"),
        started_at=job.created_at, duration_ms=max(0.0, (now - job.created_at).total_seconds())
        * 1000, endpoint="/v1/responses", outcome=Outcome.CLIENT_ERROR.value,
        cost_source=CostSource.UNPRICED.value, model_requested=job.model,
        model_served=job.model, project_id=job.project_id, api_key_id=job.api_key_id,
        end_user=job.end_user, tags=dict(job.tags), http_status=404, provider=OPENAI,
        upstream=job.upstream, batch_id=job.id, error_type=f"response_{status}",
        error_message=f"background response {job.id}: {why}",
        cost_note=f"{LOST_NOTE}: {why}",
        metadata={CREATED_BY: job.request_id} if job.request_id else {},
    )  # fmt: skip
    event.attempts = [_attempt(event)]
    return event


def _price(
    event: UsageEvent, usage: Any, overrides: Sequence[PriceOverride], regional: bool,
    provider: str | None,
) -> Cost:  # fmt: skip
    """By the serving model, else the requested one, at the response's service tier."""
    cost = _UNPRICED
    for model in dict.fromkeys(m for m in (event.model_served, event.model_requested) if m):
        try:
            cost = compute_cost(
                usage, model, event.started_at, service_tier=event.service_tier,
                overrides=overrides, regional=regional, provider=provider,
            )  # fmt: skip
        except PricingError as exc:
            log.warning("background: cannot price %s for %s: %s", event.batch_id, model, exc)
            return _UNPRICED
        if cost.cost_source is not CostSource.UNPRICED:
            return cost
    return cost


def _attempt(event: UsageEvent) -> AttemptEvent:
    """The response's one try, as upstream ran it."""
    return AttemptEvent(
        attempt_no=1, started_at=event.started_at, duration_ms=event.duration_ms,
        model=event.model_served, upstream=event.upstream, http_status=event.http_status,
        error_type=event.error_type, error_message=event.error_message,
        prompt_tokens=event.prompt_tokens, completion_tokens=event.completion_tokens,
        cost_usd=event.cost_usd,
    )  # fmt: skip


def _stamp(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
