"""The admission protocol: where rate limits and hard budgets plug into the request path.

A public module of its own so that the gateway (which calls the hook) and the budgets and
rate limits (which implement it) both depend on it and never on each other's internals.

The gateway calls ``await admission.check(principal, request)`` once per request, after the
key and attribution are known and before anything goes upstream:

* raise :class:`collector.errors.RateLimited` or :class:`collector.errors.BudgetExceeded`
  to refuse — the client gets the OpenAI-shaped 429 (``x-should-retry: false``) and the
  request is recorded with outcome ``blocked``;
* return ``None`` to admit without holding anything;
* return a :class:`Reservation` to hold (e.g. the worst-case cost of a hard budget). Once the
  response has been relayed, ``await admission.settle(reservation, cost_usd, usage)``
  replaces it with the actual cost (``None`` when unpriced) and the usage (for tokens-per-
  minute limits; ``None`` when nothing was used) — also after errors and cancellations.

``check`` runs on the request path, so it must be fast (counters in memory or Redis; the
database only for atomic reservations). ``settle`` runs after the client has its answer and
should not wait on a database either (queue the write).
``request.prompt_tokens()`` counts the prompt lazily (tiktoken) and caches the count;
``request.prompt_bound()`` is a cheap upper bound of it (UTF-8 bytes), or None.
The default, :class:`AllowAll`, admits everything and holds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from collector.keys import Attribution, KeyPrincipal
from collector.usage import Usage


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    """What an admission policy may look at: endpoint, model, attribution, prompt size."""

    endpoint: str
    model: str | None
    stream: bool
    body: dict[str, Any] | None
    attribution: Attribution
    at: datetime
    prompt_tokens: Callable[[], int]
    estimate_usd: Decimal | None = None  # a Batch API job's estimated cost, known in advance
    # at least the prompt's tokens, without a tokenizer (None: no cheap bound is known)
    prompt_bound: Callable[[], int | None] = field(default=lambda: None, compare=False)


@dataclass(frozen=True, slots=True)
class Reservation:
    """Something a policy holds for one request until it settles (amount and its own handle)."""

    amount_usd: Decimal
    handle: object = field(default=None, compare=False)


class AdmissionPolicy(Protocol):
    """A policy deciding whether a request may go upstream (see the module docstring)."""

    async def check(
        self, principal: KeyPrincipal, request: AdmissionRequest
    ) -> Reservation | None: ...

    async def settle(
        self, reservation: Reservation, cost_usd: Decimal | None, usage: Usage | None = None
    ) -> None: ...


class AllowAll:
    """The default policy: admit every request, hold nothing."""

    async def check(self, principal: KeyPrincipal, request: AdmissionRequest) -> Reservation | None:
        return None

    async def settle(
        self, reservation: Reservation, cost_usd: Decimal | None, usage: Usage | None = None
    ) -> None:
        return None
