"""One Realtime session's accounting: each response admitted, priced and recorded as a request.

A Realtime session is a WebSocket on which the client asks for responses (``response.create``)
and the server reports each one's usage in its ``response.done``. Each response is one
request row (endpoint ``/v1/realtime``, the session id in metadata under
``realtime_session``, the response id as ``upstream_request_id``), its id derived from the
session and response ids so the same ``response.done`` can never be booked twice.

Hard budgets hold per response: a client's ``response.create`` is admitted before it is
relayed (its worst case is the conversation so far as input plus the response's
``max_output_tokens``, or the model's output cap, at the text output rate); the hold is
settled by the response's ``response.done``. A response the server starts by itself (turn
detection) is admitted when its ``response.created`` arrives; if refused, the relay cancels
it upstream, and what it consumed until then is still recorded from its ``response.done``.

A response upstream reports without usage, or one cut off by the session ending before its
``response.done``, is recorded as a failure whose cost is unknown (``unpriced``), never $0.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from collector.admission import AdmissionRequest, Reservation
from collector.errors import GatewayError, PricingError
from collector.gateway._exchange import Exchange
from collector.gateway._intake import Call, Kind
from collector.gateway._runtime import Runtime
from collector.keys import Attribution, KeyPrincipal
from collector.pricing import modality_note, usage_from_api
from collector.recorder import derived_request_id, new_request_id
from collector.usage import CostSource, Outcome, Usage

log = logging.getLogger(__name__)
REALTIME_PATH = "/v1/realtime"
SESSION_KEY = "realtime_session"  # metadata key holding the session id on every row


@dataclass(slots=True)
class _Response:
    """A response from its admission (or first sight) until its ``response.done``."""

    started_at: datetime
    t0: float
    reservation: Reservation | None = None
    response_id: str | None = None


class SessionMeter:
    """Admission and recording for one Realtime session (see the module docstring)."""

    def __init__(
        self,
        runtime: Runtime,
        principal: KeyPrincipal,
        attribution: Attribution,
        model: str | None,
        query: bytes,
    ) -> None:
        self.rt = runtime
        self.principal = principal
        self.model = model
        self.started_at = datetime.now(UTC)
        self.session_id = "gw_" + new_request_id()  # until upstream's session.created names it
        self.model_served: str | None = None
        self.upstream: str | None = None
        self.responses = 0
        self._attribution = attribution
        self._call = Call("GET", REALTIME_PATH, query, Kind.REALTIME, b"", "", model=model)
        self._admitted: deque[_Response] = deque()  # relayed response.create, not yet created
        self._open: dict[str, _Response] = {}  # response id → response under way
        self._context_tokens = 0  # the conversation so far: the next response's input, at least

    # --- client events -------------------------------------------------------------------
    async def admit(self, event: dict[str, Any]) -> GatewayError | None:
        """Admit a ``response.create``; a refusal is recorded and returned (not relayed)."""
        pending = _Response(datetime.now(UTC), time.perf_counter())
        refused = await self._check(pending, event.get("response"))
        if refused is None:
            self._admitted.append(pending)
        return refused

    async def _check(self, pending: _Response, options: Any) -> GatewayError | None:
        """Hold the response's worst case (on ``pending``), or record the refusal."""
        request = AdmissionRequest(
            REALTIME_PATH,
            self.model_served or self.model,
            True,
            options if isinstance(options, dict) else None,
            self._attribution,
            pending.started_at,
            lambda: self._context_tokens,
        )
        try:
            pending.reservation = await self.rt.admission.check(self.principal, request)
        except GatewayError as exc:
            ex = self._exchange(new_request_id(), pending.started_at, pending.t0)
            ex.refuse(exc)
            self._record(ex)
            return exc
        return None

    # --- server events -------------------------------------------------------------------
    def session_created(self, event: dict[str, Any]) -> None:
        session = event.get("session")
        if isinstance(session, dict):
            if isinstance(session.get("id"), str) and session["id"]:
                self.session_id = session["id"][:100]
            if isinstance(session.get("model"), str) and session["model"]:
                self.model_served = session["model"][:100]

    async def response_created(self, event: dict[str, Any]) -> GatewayError | None:
        """Match a new response to its admission; one the server started by itself (turn
        detection) is admitted now, and a refusal is returned: the caller cancels it."""
        response_id = _response_id(event)
        if response_id is None or response_id in self._open:
            return None
        refused = None
        if self._admitted:
            pending = self._admitted.popleft()
        else:
            pending = _Response(datetime.now(UTC), time.perf_counter())
            refused = await self._check(pending, event.get("response"))
        pending.response_id = response_id
        self._open[response_id] = pending
        return refused

    async def response_done(self, event: dict[str, Any]) -> None:
        """Price and record one finished response; settle its hold."""
        response = event.get("response")
        response = response if isinstance(response, dict) else {}
        response_id = _response_id(event) or new_request_id()
        pending = self._open.pop(response_id, None)
        if pending is None:
            pending = self._admitted.popleft() if self._admitted else None
        if pending is None:
            pending = _Response(datetime.now(UTC), time.perf_counter())
        ex = self._exchange(self._row_id(response_id), pending.started_at, pending.t0)
        ex.upstream_request_id = response_id[:200]
        ex.answered = True
        ex.usage = self._usage(ex, response.get("usage"))
        note = modality_note("realtime", response.get("usage")) if ex.usage else None
        ex.estimated = note is not None
        _note_status(ex, response)
        ex.settle(self.rt.overrides)
        if note is not None and ex.cost.cost_source is CostSource.ESTIMATED:
            ex.cost = replace(ex.cost, note="; ".join(n for n in (note, ex.cost.note) if n))
        self.responses += 1
        if ex.usage is not None:
            self._context_tokens = ex.usage.prompt_tokens + ex.usage.completion_tokens
        self._record(ex)
        await self._settle(pending.reservation, ex)

    # --- the end -------------------------------------------------------------------------
    async def close(self, outcome: Outcome, error_type: str, message: str) -> None:
        """The session ended: a response still under way is a failure of unknown cost.

        Admitted ``response.create`` events that upstream never acknowledged consumed
        nothing: their holds are released.
        """
        for response_id, pending in list(self._open.items()):
            ex = self._exchange(self._row_id(response_id), pending.started_at, pending.t0)
            ex.upstream_request_id = response_id[:200]
            ex.answered = True  # it may have been billed: unpriced, never $0
            ex.fail(outcome, error_type, f"{message} before its response.done")
            ex.settle(self.rt.overrides)
            self._record(ex)
            await self._settle(pending.reservation, ex)
        self._open.clear()
        while self._admitted:
            pending = self._admitted.popleft()
            if pending.reservation is not None:
                ex = self._exchange(new_request_id(), pending.started_at, pending.t0)
                await self._settle(pending.reservation, ex)

    def record_failure(self, outcome: Outcome, error: GatewayError, message: str) -> None:
        """The session never opened (upstream unreachable or refused): one failure row."""
        ex = self._exchange(new_request_id(), self.started_at, time.perf_counter())
        ex.refuse(error)
        ex.outcome = outcome
        ex.error_message = message[:1000]
        self._record(ex)

    # --- helpers -------------------------------------------------------------------------
    def _exchange(self, request_id: str, started_at: datetime, t0: float) -> Exchange:
        ex = Exchange(request_id, started_at, t0, REALTIME_PATH)
        ex.call, ex.principal = self._call, self.principal
        metadata = {**self._attribution.metadata, SESSION_KEY: self.session_id}
        ex.attribution = replace(self._attribution, metadata=metadata)
        ex.model_served, ex.upstream = self.model_served, self.upstream
        return ex

    def _row_id(self, response_id: str) -> str:
        return derived_request_id(self.started_at, f"{self.session_id}\x00{response_id}")

    def _usage(self, ex: Exchange, usage: Any) -> Usage | None:
        if usage is None:
            return None
        try:
            return usage_from_api("realtime", usage)
        except PricingError as exc:
            log.warning("gateway: realtime response %s has unreadable usage: %s", ex.id, exc)
            ex.fail(Outcome.UPSTREAM_ERROR, "invalid_usage", f"usage not readable: {exc}")
            return None

    def _record(self, ex: Exchange) -> None:
        if self.rt.settings.record_requests:
            self.rt.record(ex)

    async def _settle(self, reservation: Reservation | None, ex: Exchange) -> None:
        if reservation is None:
            return
        try:
            await self.rt.admission.settle(reservation, ex.cost.cost_usd, ex.usage)
        except Exception:
            log.exception("gateway: admission settle failed for %s", ex.id)


def _response_id(event: dict[str, Any]) -> str | None:
    response = event.get("response")
    if isinstance(response, dict):
        value = response.get("id")
        if isinstance(value, str) and value:
            return value
    return None


def _note_status(ex: Exchange, response: dict[str, Any]) -> None:
    """``failed`` is upstream's error; ``cancelled``/``incomplete`` still bill what ran."""
    status = response.get("status")
    if ex.usage is None and ex.error_type is None:
        ex.fail(Outcome.UPSTREAM_ERROR, "missing_usage", "response.done carried no usage")
    if status == "failed":
        details = response.get("status_details")
        error = details.get("error") if isinstance(details, dict) else None
        code = error.get("code") or error.get("type") if isinstance(error, dict) else None
        ex.fail(Outcome.UPSTREAM_ERROR, str(code or "response_failed")[:100],
                f"response {status}")  # fmt: skip
    elif status == "cancelled" and ex.error_type is None:
        ex.error_type = "cancelled"
