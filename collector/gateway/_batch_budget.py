"""Hard budgets for Batch API jobs: a job is refused before it reaches upstream when its
estimated cost would exceed a hard budget.

When a hard budget may cover the key (whatever the model), ``POST /v1/batches`` reads the
job's input file back from upstream, one line at a time, and estimates each line as the
gateway bounds a request it relays: its prompt counted, plus its ``max_tokens`` (else the
model's output cap), at Batch API rates. The sum is reserved like one request's worst case
— refused with the same 429 as any budget refusal — and, as the job's own call reports no
usage, it is booked as the job's spend on the budget's counters, kept under the job's id (a
``JobTicket`` carries the id from the upstream answer to the settle) until the poller has
recorded the job's lines and replaces it by their exact cost (``budgets.replace_booked``).
A background Responses API call is treated alike (``with_background_estimate``): its worst case
is reserved on its own and kept under the response's id until the response has ended.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from collector.admission import AdmissionRequest
from collector.budgets import (
    Subject,
    catalog_prices,
    output_cap,
    start_job_ticket,
    worst_case_cost,
)
from collector.errors import BudgetExceeded, UpstreamUnavailable
from collector.gateway._estimate import estimate_prompt
from collector.gateway._intake import ENDPOINTS, Call, Kind

if TYPE_CHECKING:
    from collector.gateway._runtime import Runtime
    from collector.keys import KeyPrincipal

_MAX_OUTPUT_FIELDS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
_CHUNK = 1 << 16


@dataclasses.dataclass(slots=True)
class Estimate:
    """A job's lines, its model (the first line's) and their summed worst case."""

    lines: int = 0
    model: str | None = None
    cost_usd: Decimal = Decimal(0)


def estimate_lines(
    lines: Iterable[bytes], endpoint: str, at: datetime, default_cap: int, into: Estimate
) -> Estimate:
    """Add each JSONL line's worst case at Batch API rates to ``into`` (pure); a line naming
    an unpriced model is refused, since no hard budget could bound it."""
    kind = ENDPOINTS.get(("POST", endpoint), Kind.OTHER)
    for raw in lines:
        line = _object(raw)
        body = line.get("body") if line is not None else None
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            continue  # upstream refuses the file; nothing of it runs
        model: str = body["model"]
        into.lines += 1
        into.model = into.model or model
        prices = catalog_prices(model, at, batch=True)
        if prices is None:
            raise BudgetExceeded(
                f"Model '{model}' has no known price, so a hard budget cannot bound this batch "
                "job's cost; add a price override or use a priced model."
            )
        call = Call("POST", endpoint, b"", kind, b"", "application/json", body=body, model=model)
        cap = _max_output(body)
        if cap is None:
            cap = output_cap(model, default_cap)
        n = body.get("n")
        n = n if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else 1
        into.cost_usd += worst_case_cost(prices, estimate_prompt(call), cap, n)
    return into


async def with_batch_estimate(
    rt: Runtime, principal: KeyPrincipal, call: Call, request: AdmissionRequest
) -> AdmissionRequest:
    """``request`` with the job's model and estimated cost when it creates a job a hard budget
    may cover; unchanged otherwise."""
    admitter = rt.admitter
    if call.method != "POST" or call.path != "/v1/batches" or admitter is None:
        return request
    body = _object(call.raw) or {}
    file_id, endpoint = body.get("input_file_id"), body.get("endpoint")
    if not isinstance(file_id, str) or not isinstance(endpoint, str):
        return request  # upstream answers the malformed request
    a = request.attribution
    subject = Subject(principal.project, principal.key_prefix, a.end_user, None, a.tags)
    if not await admitter.hard_budgets_cover(subject):
        return request
    estimate = Estimate()
    cap = rt.settings.budget_default_output_cap
    async for chunk in _file_lines(rt, file_id):
        estimate_lines(chunk, endpoint, request.at, cap, estimate)
    start_job_ticket()  # the job's id, once upstream answers, names what its settle books
    return dataclasses.replace(request, model=estimate.model, estimate_usd=estimate.cost_usd)


async def with_background_estimate(
    rt: Runtime, principal: KeyPrincipal, call: Call, request: AdmissionRequest
) -> AdmissionRequest:
    """``request`` with its worst case as an estimate of its own when it starts a background
    response a hard budget may cover: reserved on its own (never from a lease), so its
    settle keeps it under the response's id until the response's row replaces it."""
    admitter, body, model = rt.admitter, call.body or {}, call.model
    if admitter is None or model is None or body.get("background") is not True:
        return request
    if call.kind is not Kind.RESPONSES:
        return request
    a = request.attribution
    subject = Subject(principal.project, principal.key_prefix, a.end_user, model, a.tags)
    if not await admitter.hard_budgets_cover(subject):
        return request
    prices = catalog_prices(model, request.at)
    if prices is None:
        return request  # admitted (or refused) as any call of an unpriced model
    cap = _max_output(body)
    if cap is None:
        cap = output_cap(model, rt.settings.budget_default_output_cap)
    start_job_ticket()  # the response's id, once upstream answers, names what its settle books
    estimate = worst_case_cost(prices, estimate_prompt(call), cap, 1)
    return dataclasses.replace(request, estimate_usd=estimate)


async def _file_lines(rt: Runtime, file_id: str) -> AsyncIterator[list[bytes]]:
    """The file's lines from upstream, a chunk's worth at a time."""
    upstream = rt.upstreams.for_model(None)
    headers = {"Authorization": upstream.authorization} if upstream.authorization else {}
    url = upstream.url(f"/v1/files/{file_id}/content", b"")
    try:
        async with rt.forwarder.session.get(url, headers=headers) as response:
            if response.status >= 400:
                raise _unreadable(f"upstream answered {response.status}")
            partial = b""
            async for chunk in response.content.iter_chunked(_CHUNK):
                *whole, partial = (partial + chunk).split(b"\n")
                yield [line for line in whole if line.strip()]
            if partial.strip():
                yield [partial]
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise _unreadable(type(exc).__name__) from exc


def _unreadable(why: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(
        f"The batch's input file could not be read to check it against a hard budget ({why}); "
        "please retry shortly."
    )


def _max_output(body: dict[str, Any]) -> int | None:
    for name in _MAX_OUTPUT_FIELDS:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def _object(raw: bytes) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None
