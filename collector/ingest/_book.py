"""A reported call priced into the ``UsageEvent`` the recorder takes (no I/O).

The request id is a ULID whose time is the call's start and whose 80 other bits are a hash
of (project, the client's id): the same event sent twice — a retried batch, a replayed
buffer — is the same row, and the recorder, idempotent on request id, keeps one.
Pricing is the gateway's (serving model, else the requested one); a cost the catalog
computes is booked ``reported`` (the client's usage), an unknown model ``unpriced``, an
assumed snapshot price ``estimated``; a failed call that reported no usage consumed nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from collector.errors import PricingError
from collector.ingest._event import ReportedCall
from collector.keys import Attribution, KeyPrincipal
from collector.pricing import PriceOverride, as_reported, compute_cost
from collector.recorder import AttemptEvent, UsageEvent, ulid, usage_columns
from collector.usage import Cost, CostSource, Outcome, Usage

log = logging.getLogger(__name__)
NO_USAGE_NOTE = "the client reported no usage"
_MASK80 = (1 << 80) - 1


def reported_request_id(project_id: int, event_id: str, started_ms: int) -> str:
    """The fixed request id of a client's event: the same inputs, the same id."""
    digest = hashlib.blake2b(f"{project_id}\x00{event_id}".encode(), digest_size=10).digest()
    return ulid(started_ms, int.from_bytes(digest, "big") & _MASK80)


def price_reported(call: ReportedCall, overrides: Sequence[PriceOverride]) -> Cost:
    """The cost of a reported call, never a silent $0 for a call that succeeded."""
    usage = call.usage
    if usage is None:
        if call.outcome is Outcome.SUCCESS:
            return Cost(None, CostSource.UNPRICED, note=NO_USAGE_NOTE)
        return Cost(Decimal(0), CostSource.REPORTED)
    cost = Cost(None, CostSource.UNPRICED)
    for model in dict.fromkeys(m for m in (call.model, call.requested_model) if m):
        try:
            cost = compute_cost(
                usage,
                model,
                call.started_at,
                batch=call.batch,
                service_tier=call.service_tier,
                overrides=overrides,
            )
        except PricingError as exc:
            log.warning("ingest: cannot price event %s for %s: %s", call.event_id, model, exc)
            return Cost(None, CostSource.UNPRICED, note=str(exc)[:300])
        if cost.cost_source is not CostSource.UNPRICED:
            break
    if call.usage_note is not None and cost.cost_usd is not None:
        note = "; ".join(n for n in (call.usage_note, cost.note) if n)
        return replace(cost, cost_source=CostSource.ESTIMATED, note=note)
    return as_reported(cost)


def book(
    call: ReportedCall,
    principal: KeyPrincipal,
    attribution: Attribution,
    overrides: Sequence[PriceOverride],
) -> UsageEvent:
    """The priced row of ``call``, booked to the key's project with ``attribution``."""
    started_ms = int(call.started_at.timestamp() * 1000)
    cost = price_reported(call, overrides)
    u = call.usage or Usage()
    attempt = AttemptEvent(
        attempt_no=1,
        started_at=call.started_at,
        duration_ms=call.duration_ms,
        model=call.model,
        http_status=call.http_status,
        error_type=call.error_type,
        error_message=call.error_message,
        prompt_tokens=u.prompt_tokens,
        completion_tokens=u.completion_tokens,
        cost_usd=cost.cost_usd,
    )
    metadata = {**attribution.metadata, **call.extra_metadata}
    return UsageEvent(
        id=reported_request_id(principal.project_id, call.event_id, started_ms),
        started_at=call.started_at,
        duration_ms=call.duration_ms,
        endpoint=call.endpoint,
        outcome=call.outcome.value,
        cost_source=cost.cost_source.value,
        ttft_ms=call.ttft_ms,
        model_requested=call.requested_model or call.model,
        model_served=call.model,
        stream=call.stream,
        project_id=principal.project_id,
        api_key_id=principal.api_key_id,
        end_user=attribution.end_user,
        tags=dict(attribution.tags),
        metadata=metadata,
        http_status=call.http_status,
        error_type=call.error_type,
        error_message=call.error_message,
        **usage_columns(u),
        cost_usd=cost.cost_usd,
        price_id=cost.price_id,
        batch=call.batch,
        service_tier=call.service_tier,
        upstream_request_id=call.upstream_request_id,
        cost_note=cost.note[:300] if cost.note else None,
        attempts=[attempt],
    )
