"""Admission: the hook the gateway calls before forwarding a request, and after it ends.

``await admitter.admit(ctx)`` checks rate limits, then reserves the request's worst-case cost
on every hard budget covering it; it raises ``RateLimited`` / ``BudgetExceeded`` (OpenAI-shaped
429s the SDK will not retry) or, with ``db_failure_policy=fail_closed`` and the database down,
``BudgetStoreUnavailable`` (503). After the request, ``settle`` books the actual cost (or
``release`` gives the hold back). Database calls run in a worker thread, off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from collector.budgets._cost import TokenPrices
from collector.budgets._counters import Hold, Refusal, Reservation, SettledCounter
from collector.budgets._period import parse_timezone
from collector.budgets._scope import Subject
from collector.budgets._spec import BudgetSpec
from collector.errors import BudgetExceeded, RateLimited
from collector.ratelimit import Decision, Limit

if TYPE_CHECKING:
    from collector.budgets._lease import Lease
    from collector.keys._types import KeyPrincipal

PriceLookup = Callable[[str, datetime, str | None], TokenPrices | None]


@dataclass(frozen=True, slots=True)
class AdmissionContext:
    """Everything admission needs to know about one request, as plain values."""

    model: str
    prompt_tokens: int  # the exact count when known up front (else see ``count_prompt``)
    now: datetime
    max_output_tokens: int | None = None  # max_tokens / max_completion_tokens, if the client set it
    n: int = 1
    service_tier: str | None = None
    project: str | None = None
    api_key_id: int | None = None
    key_prefix: str | None = None
    user: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    key_rpm: int | None = None
    key_tpm: int | None = None
    # known before it runs (a Batch API job's estimate) instead of the per-token worst case;
    # 0: the request costs nothing itself (a Files or Batch API call): no hard budget holds
    worst_case_usd: Decimal | None = None
    # counts the prompt on demand (tokenizer); when set, ``prompt_tokens`` is not used
    count_prompt: Callable[[], int] | None = None
    # a cheap upper bound of the prompt's tokens (no tokenizer), when one is known
    prompt_bound: int | None = None

    @classmethod
    def for_principal(
        cls, principal: KeyPrincipal, *, model: str, prompt_tokens: int, now: datetime,
        max_output_tokens: int | None = None, n: int = 1, service_tier: str | None = None,
    ) -> AdmissionContext:  # fmt: skip
        return cls(
            model=model, prompt_tokens=prompt_tokens, now=now, n=n,
            max_output_tokens=max_output_tokens, service_tier=service_tier,
            project=principal.project, api_key_id=principal.api_key_id,
            key_prefix=principal.key_prefix, user=principal.end_user, tags=principal.tags,
            key_rpm=principal.rpm, key_tpm=principal.tpm,
        )  # fmt: skip

    def exact_prompt_tokens(self) -> int:
        """The prompt's token count (may load a tokenizer)."""
        return self.count_prompt() if self.count_prompt is not None else self.prompt_tokens

    def prompt_upper_bound(self) -> int:
        """At least the prompt's tokens: the cheap bound when known, else the exact count."""
        return self.prompt_bound if self.prompt_bound is not None else self.exact_prompt_tokens()

    @property
    def subject(self) -> Subject:
        return Subject(self.project, self.key_prefix, self.user, self.model, self.tags)


@dataclass(frozen=True, slots=True)
class RateCharge:
    """What admission charged to rate limits, so that the request's end can correct it."""

    limits: tuple[Limit, ...] = ()
    output_tokens: int = 0  # max output tokens charged up front (n × max_tokens)
    bound_prompt: int = 0  # prompt tokens charged as the byte bound (0: exact, or no TPM)
    at: datetime | None = None  # the admission's clock: the window the charge went to

    @property
    def tpm_keys(self) -> tuple[str, ...]:
        return tuple(lim.key for lim in self.limits if lim.key.endswith(":tpm"))


@dataclass(frozen=True, slots=True)
class AdmissionTicket:
    """A ticket for an admitted request: pass it back to ``settle`` or ``release``."""

    reservation: Reservation | None = None
    worst_case_usd: Decimal | None = None
    rates: RateCharge = RateCharge()  # what rate limits were charged (``_rates``)
    unchecked: bool = False  # hard budgets skipped: database down and policy fail_open
    book: tuple[Hold, ...] = ()  # unchecked: counters the actual cost is booked on at settle
    leases: tuple[Lease, ...] = ()  # admitted from these leases instead of a reservation


def usd(amount: Decimal) -> str:
    """$ amount with 2..6 decimals, for messages."""
    text = f"{amount.quantize(Decimal('0.000001')):f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def budget_refusal(refusal: Refusal, tz_name: str) -> BudgetExceeded:
    b = refusal.budget
    reset = refusal.reset_at.astimezone(parse_timezone(tz_name)).isoformat()
    message = (
        f"Budget '{b.name}' ({b.scope}, per {b.period}) cannot afford this request: "
        f"{usd(refusal.spent_usd)} spent and {usd(refusal.reserved_usd)} reserved of "
        f"{usd(b.amount_usd)}; this request may cost up to {usd(refusal.requested_usd)}. "
        f"The budget resets at {reset}."
    )
    return BudgetExceeded(message, headers={"x-spendscope-budget-reset": reset})


def rate_refusal(decision: Decision) -> RateLimited:
    lim = decision.exceeded
    assert lim is not None  # noqa: S101 - type narrowing: the limit was found just above
    if decision.retry_after_s is None:
        return RateLimited(
            f"This request needs {lim.cost}, more than the {lim.label} limit of {lim.limit}; "
            "it can never be admitted. Lower max_tokens or the prompt size."
        )
    return RateLimited(
        f"Rate limit reached: {lim.label} is {lim.limit}. Retry after {decision.retry_after_s} s.",
        headers={"Retry-After": str(decision.retry_after_s)},
    )


def crossed_threshold(budget: BudgetSpec, counter: SettledCounter) -> bool:
    """Whether settling moved spend over one of the budget's thresholds."""
    before, after = counter.spent_before * 100, counter.spent_after * 100
    return any(before < budget.amount_usd * t <= after for t in budget.thresholds)
