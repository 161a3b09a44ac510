"""Tries the upstream may have billed though no answer was read: their cost, estimated.

A try that timed out after the request went out, or whose 2xx body was cut while it was
read, was most likely served (and billed) upstream: OpenAI bills the tokens of a request it
processed whether or not the client read the answer. Such a try used to cost $0 on the
record, and a retry that then succeeded hid the first try's spend. Now each one is priced as
an estimate: the prompt as spendscope counts it, no output (a lower bound: the output is
unknown), at the try's model. The estimate is kept on the try (``attempts.cost_usd``, so
"money spent on failed attempts" includes it) and added to the request's cost, which
becomes ``estimated`` with a note giving the basis.

A JSON request whose client left while its try was in flight is the same case: the gateway
drops the upstream request, and the upstream may still serve and bill it.

A try that never connected (refused, DNS, connect timeout) or that got an error status was
not served, and stays at $0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

import aiohttp

from collector.errors import PricingError
from collector.pricing import PriceOverride, compute_cost
from collector.recorder import AttemptEvent
from collector.usage import Cost, CostSource, Usage

log = logging.getLogger(__name__)


def may_be_billed(attempt: AttemptEvent, exc: BaseException) -> bool:
    """Whether a try that failed with ``exc`` reached an upstream that may have served it."""
    if attempt.http_status is not None:
        return attempt.http_status < 300  # a 2xx answer cut while read: it was produced
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return False  # never connected: nothing was sent
    return isinstance(exc, TimeoutError)  # sent, and the upstream was still working on it


def in_flight(attempt: AttemptEvent) -> bool:
    """A try still waiting for (or reading) its answer: no error yet, no error status."""
    return attempt.error_type is None and (attempt.http_status or 0) < 300


def price_unanswered(
    attempts: Sequence[AttemptEvent],
    prompt_tokens: int,
    overrides: Sequence[PriceOverride],
    *,
    service_tier: str | None = None,
) -> Decimal:
    """Price each try at its own model as ``prompt_tokens`` in, nothing out; set the try's
    tokens and cost, and return the sum (tries whose model has no price add nothing and keep
    a NULL cost)."""
    total = Decimal(0)
    if prompt_tokens <= 0:
        return total
    usage = Usage(prompt_tokens=prompt_tokens)
    for attempt in attempts:
        if not attempt.model:
            continue
        try:
            cost = compute_cost(
                usage,
                attempt.model,
                attempt.started_at,
                service_tier=service_tier,
                overrides=overrides,
                estimated=True,
                provider=attempt.provider,
            )
        except PricingError as exc:
            log.warning("gateway: cannot price an unanswered try of %s: %s", attempt.model, exc)
            continue
        if cost.cost_usd is None:
            continue
        attempt.prompt_tokens = prompt_tokens
        attempt.cost_usd = cost.cost_usd
        total += cost.cost_usd
    return total


def with_unanswered(cost: Cost, extra: Decimal, tries: int) -> Cost:
    """The request's cost with the estimate of its unanswered tries added (an unpriced
    answer stays unpriced: a sum with an unknown is unknown)."""
    if extra <= 0 or cost.cost_usd is None:
        return cost
    basis = (
        f"includes ${extra} estimated for {tries} unanswered upstream "
        f"{'try' if tries == 1 else 'tries'} (timed out or cut; prompt counted by "
        "spendscope, output unknown)"
    )
    note = f"{cost.note}; {basis}" if cost.note else basis
    return replace(
        cost, cost_usd=cost.cost_usd + extra, cost_source=CostSource.ESTIMATED, note=note
    )
