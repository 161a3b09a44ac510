"""Adapter from the gateway's hook (``collector.gateway.AdmissionPolicy``) to :class:`Admitter`.

The gateway owns its protocol (``check(principal, request)`` / ``settle(reservation, cost)``);
this class maps its values onto :class:`AdmissionContext` and back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from collector.budgets._admission import AdmissionContext, AdmissionTicket
from collector.budgets._admitter import Admitter
from collector.budgets._bookings import job_ticket
from collector.budgets._scope import Subject

if TYPE_CHECKING:
    from collector.admission import AdmissionRequest, Reservation
    from collector.keys import KeyPrincipal
    from collector.usage import Usage

_JOB_PATHS = ("/v1/files", "/v1/batches")
_MAX_OUTPUT_FIELDS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


def _int_field(body: dict[str, Any], names: tuple[str, ...]) -> int | None:
    for name in names:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def context_for(principal: KeyPrincipal, request: AdmissionRequest) -> AdmissionContext:
    body = request.body or {}
    tier = body.get("service_tier")
    return AdmissionContext(
        model=request.model or "",
        prompt_tokens=0,
        count_prompt=request.prompt_tokens,
        prompt_bound=request.prompt_bound(),
        now=request.at,
        max_output_tokens=_int_field(body, _MAX_OUTPUT_FIELDS),
        n=max(1, _int_field(body, ("n",)) or 1),
        service_tier=tier if isinstance(tier, str) else None,
        project=principal.project,
        api_key_id=principal.api_key_id,
        key_prefix=principal.key_prefix,
        user=request.attribution.end_user,
        tags=request.attribution.tags,
        key_rpm=principal.rpm,
        key_tpm=principal.tpm,
        worst_case_usd=_known_cost(request),
    )


def _known_cost(request: AdmissionRequest) -> Decimal | None:
    """A batch job's estimate; 0 for a Files / Batch API call that costs nothing itself (its
    job's lines are what costs, estimated when the job is created)."""
    if request.estimate_usd is not None:
        return request.estimate_usd
    if request.model is None and request.endpoint.startswith(_JOB_PATHS):
        return Decimal(0)
    return None


class GatewayAdmission:
    """Rate limits and hard budgets behind the gateway's ``AdmissionPolicy`` protocol.

    A request no limit or hard budget covers is admitted from the cached policy alone: no
    token count, no database. Settles are queued, never awaited on the database.
    """

    def __init__(self, admitter: Admitter) -> None:
        self.admitter = admitter

    async def check(self, principal: KeyPrincipal, request: AdmissionRequest) -> Reservation | None:
        from collector.admission import Reservation

        attribution = request.attribution
        subject = Subject(
            principal.project, principal.key_prefix, attribution.end_user, request.model,
            attribution.tags,
        )  # fmt: skip
        if not await self.admitter.applies(subject, principal.rpm, principal.tpm):
            return None
        admission = await self.admitter.admit(context_for(principal, request))
        held = admission.reservation is not None or admission.book or admission.leases
        if not held and not admission.rates.tpm_keys:
            return None
        return Reservation(admission.worst_case_usd or Decimal(0), handle=admission)

    async def settle(
        self, reservation: Reservation, cost_usd: Decimal | None, usage: Usage | None = None
    ) -> None:
        admission = reservation.handle
        ticket = job_ticket()
        if isinstance(admission, AdmissionTicket):
            await self.admitter.settle(
                admission,
                actual_cost=cost_usd,
                completion_tokens=usage.completion_tokens if usage is not None else 0,
                prompt_tokens=usage.prompt_tokens if usage is not None else None,
                now=datetime.now(UTC),
                wait=False,
                job=ticket.batch_id if ticket is not None else None,
            )
