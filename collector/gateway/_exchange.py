"""One logical request while it runs, and how it settles into a priced ``UsageEvent``.

Cost rules (docs/design.md): usage reported by upstream is ``computed`` with the price of the model
that served it (falling back to the requested model's price); usage we counted ourselves
(a stream cut or cancelled before its usage arrived) is ``estimated``; a response without
usage on an endpoint we cannot count is ``unpriced`` (cost NULL); usage without a unit the
model bills for (speech priced per token, answered with bare audio) is priced from our own
count (``fallback``) as ``estimated``, its basis in the note; unless OpenAI does not charge
for the endpoint at all (models, moderations: ``computed`` $0, price ``free:…``); an answer
whose spend another row records (a Batch API call, a background response started, a stored
response read) is ``unpriced`` with a note saying where (``pricing.job_endpoint_cost``). A
request that never got a successful answer (refused by us, or every try failed) consumed
nothing: ``computed`` $0.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from collector.cache import Capture
from collector.errors import GatewayError, PolicyRefusal, PricingError
from collector.gateway._estimate import bound_prompt, estimate_completion, estimate_prompt
from collector.gateway._intake import TRACEPARENT, Call, Kind
from collector.gateway._sse import StreamObserver
from collector.gateway._unanswered import price_unanswered, with_unanswered
from collector.keys import Attribution, KeyPrincipal
from collector.pricing import (
    PriceOverride,
    background_cost,
    compute_cost,
    container_cost,
    free_endpoint_cost,
    job_endpoint_cost,
)
from collector.providers import OPENAI
from collector.recorder import (
    BACKGROUND_KEY,
    RESERVED_KEYS,
    AttemptEvent,
    UsageEvent,
    set_usage_columns,
)
from collector.usage import Cost, CostSource, Outcome, Usage, outcome_for_status

__all__ = ["Exchange", "outcome_for_status"]

log = logging.getLogger(__name__)
_ZERO = Cost(Decimal(0), CostSource.COMPUTED)
_UNPRICED = Cost(None, CostSource.UNPRICED)


@dataclass(slots=True)
class Exchange:
    """Everything known about one request so far; settled into a UsageEvent at the end."""

    id: str
    started_at: datetime
    t0: float
    endpoint: str
    call: Call | None = None
    principal: KeyPrincipal | None = None
    attribution: Attribution | None = None
    outcome: Outcome = Outcome.SUCCESS
    http_status: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    ttft_ms: float | None = None
    model_served: str | None = None
    usage: Usage | None = None
    estimated: bool = False
    fallback: tuple[Usage, str] | None = None  # counted usage and its basis, if priced needs it
    service_tier: str | None = None
    upstream: str | None = None
    regional: bool = False  # served by a regional-processing endpoint (priced with uplift)
    provider: str | None = None  # who answered (collector.providers): prices with its entries
    upstream_request_id: str | None = None
    observer: StreamObserver | None = None
    attempts: list[AttemptEvent] = field(default_factory=list)
    unanswered: list[AttemptEvent] = field(default_factory=list)  # tries upstream may have billed
    cost: Cost = _ZERO
    answered: bool = False  # upstream gave a 2xx answer (so something may be billed)
    responded: bool = False  # our last byte is on its way: a disconnect now is no cancel
    disconnected: bool = False
    traceparent: str | None = None  # the client's valid W3C header, for the OTel exporter
    # called before the last byte goes out, to hand the request to the recorder
    hand_off: Callable[[Exchange], Awaitable[None]] | None = None
    on_started: Callable[[Exchange], Awaitable[None]] | None = None  # a stream named its response
    recorded: bool = False
    notes: dict[str, Any] | None = None  # metadata the gateway itself adds (``RESERVED_KEYS``)
    cache_hit: bool = False  # answered from the response cache (collector.gateway._cached)
    saved_usd: Decimal | None = None  # a hit: the cost of the answer it replayed
    capture: Capture | None = None  # a stream's upstream bytes, kept for the response cache
    _prompt: int | None = None

    def refuse(self, exc: GatewayError) -> None:
        """Our own answer instead of upstream's: refused input, policy (``blocked``), or 5xx."""
        if isinstance(exc, PolicyRefusal):
            self.outcome = Outcome.BLOCKED
        else:  # a 5xx of ours (e.g. the key store is down) spends the error budget
            self.outcome = Outcome.UPSTREAM_ERROR if exc.status >= 500 else Outcome.CLIENT_ERROR
        self.http_status = exc.status
        self.error_type = exc.instance_code or exc.type
        self.error_message = exc.message

    def fail(self, outcome: Outcome, error_type: str, message: str) -> None:
        self.outcome, self.error_type, self.error_message = outcome, error_type, message

    def prompt_tokens(self) -> int:
        """Our own count of the prompt (cached; 0 when it cannot be counted)."""
        if self._prompt is None:
            self._prompt = estimate_prompt(self.call) if self.call is not None else 0
        return self._prompt

    def prompt_bound(self) -> int | None:
        """At least the prompt's tokens, without a tokenizer (None: no cheap bound)."""
        return bound_prompt(self.call) if self.call is not None else None

    def estimate_from_stream(self) -> None:
        """Usage never arrived: count the prompt and what was streamed ourselves."""
        obs = self.observer
        if self.call is None or obs is None or obs.usage is not None:
            return
        model = obs.model or self.call.model or ""
        completion = estimate_completion(obs.text, list(obs.tool_calls.values()), model)
        self.usage = Usage(prompt_tokens=self.prompt_tokens(), completion_tokens=completion)
        self.estimated = True

    def settle(self, overrides: Sequence[PriceOverride]) -> None:
        """Price the usage (if any) and copy it onto the last attempt, then add the estimated
        cost of the tries the upstream may have billed without answering (``_unanswered``)."""
        self._price_answer(overrides)
        answer = self.attempts[-1] if self.usage is not None and self.attempts else None
        tries = [a for a in self.unanswered if a is not answer]
        if tries:
            extra = price_unanswered(
                tries, self.prompt_tokens(), overrides, service_tier=self.service_tier
            )
            self.cost = with_unanswered(self.cost, extra, len(tries))

    def _price_answer(self, overrides: Sequence[PriceOverride]) -> None:
        free = free_endpoint_cost(self.call.method, self.call.path) if self.call else None
        if free is not None and self.answered:
            self.cost = free
        elif self.usage is not None and self.call and self.call.kind is Kind.CONTAINERS:
            memory = (self.call.body or {}).get("memory_limit")
            self.cost = container_cost(memory, self.started_at)
        elif self.usage is None:
            jobs = self._deferred() if self.answered else None
            self.cost = jobs or (_UNPRICED if self.answered else _ZERO)
            return
        else:
            self.cost = _price(self, self.usage, overrides)
            self._fall_back(overrides)
        if self.attempts:
            last, usage = self.attempts[-1], self.usage or Usage()
            last.prompt_tokens = usage.prompt_tokens
            last.completion_tokens = usage.completion_tokens
            last.cost_usd = self.cost.cost_usd

    def _deferred(self) -> Cost | None:
        """The booking of an answer whose spend another row records (a job, a background
        response), if it is one."""
        if self.notes is not None and BACKGROUND_KEY in self.notes:
            return background_cost()
        return job_endpoint_cost(self.endpoint)

    def _fall_back(self, overrides: Sequence[PriceOverride]) -> None:
        """No billable units for a priced model: price our own count instead, as an estimate."""
        if self.cost.cost_source is not CostSource.UNPRICED or self.fallback is None:
            return
        usage, basis = self.fallback
        self.estimated = True
        cost = _price(self, usage, overrides)
        if cost.cost_source is not CostSource.UNPRICED:
            self.usage, self.cost = usage, replace(cost, note=basis)

    def _metadata(self) -> dict[str, Any]:
        """The client's metadata, plus its ``traceparent`` header unless it set that key, plus
        the gateway's own notes (keys a client cannot set: its values for them are dropped)."""
        metadata = dict(self.attribution.metadata) if self.attribution else {}
        if metadata and not RESERVED_KEYS.isdisjoint(metadata):
            metadata = {k: v for k, v in metadata.items() if k not in RESERVED_KEYS}
        if self.traceparent is not None:
            metadata.setdefault(TRACEPARENT, self.traceparent)
        if self.notes:
            metadata.update(self.notes)
        return metadata

    def to_event(self) -> UsageEvent:
        """The settled request as its row: the leading fields by position, the rest set by
        name (a keyword call of the 47-field event matched each name in turn, ~4 times the
        cost of the whole positional call); ``test_exchange_event`` holds the order."""
        call, attribution, principal, cost = self.call, self.attribution, self.principal, self.cost
        event = UsageEvent(
            self.id,
            self.started_at,
            (time.perf_counter() - self.t0) * 1000,  # duration_ms
            self.endpoint[:100],
            self.outcome.value,
            cost.cost_source.value,
            self.ttft_ms,
            call.model if call else None,  # model_requested
            self.model_served,
            bool(call and call.stream),  # stream
            principal.project_id if principal else None,
            principal.api_key_id if principal else None,
            attribution.end_user if attribution else None,
            dict(attribution.tags) if attribution else {},
            self._metadata(),
            self.http_status,
            self.error_type,
            self.error_message,
        )
        if self.usage is not None:  # else the event's own zeros, as an empty usage's
            set_usage_columns(event, self.usage)
        event.cost_usd, event.price_id = cost.cost_usd, cost.price_id
        event.service_tier, event.upstream = self.service_tier, self.upstream
        event.upstream_request_id = self.upstream_request_id
        event.cost_note = cost.note[:300] if cost.note else None
        event.cache_hit, event.saved_usd = self.cache_hit, self.saved_usd
        event.provider = self._provider()
        event.attempts = self.attempts
        return event

    def _provider(self) -> str:
        """Who answered; with no answer, who was tried last (``openai`` when nobody was)."""
        if self.provider is not None:
            return self.provider
        return self.attempts[-1].provider if self.attempts else OPENAI


def _price(ex: Exchange, usage: Usage, overrides: Sequence[PriceOverride]) -> Cost:
    """Price by the serving model, else by the requested one; never raise into the request."""
    requested = ex.call.model if ex.call else None
    models = [m for m in dict.fromkeys((ex.model_served, requested)) if m]
    cost = _UNPRICED
    for model in models:
        try:
            cost = compute_cost(
                usage,
                model,
                ex.started_at,
                service_tier=ex.service_tier,
                overrides=overrides,
                estimated=ex.estimated,
                regional=ex.regional,
                provider=ex.provider,
            )
        except PricingError as exc:
            log.warning("gateway: cannot price %s for %s: %s", ex.id, model, exc)
            return _UNPRICED
        if cost.cost_source is not CostSource.UNPRICED:
            return cost
    return cost
