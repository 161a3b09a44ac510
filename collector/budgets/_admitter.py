"""The gateway's admission object: rate limits, then hard-budget reservations.

Reserves and settles go through the process's :class:`Ledger` (group commit): a reserve waits
for its batch, a settle from the gateway does not (``wait=False``). :meth:`Admitter.applies`
answers from the cached policy whether a request needs admission at all, so traffic that no
limit or hard budget covers costs no database work and no token count.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from collector.budgets._admission import (
    AdmissionContext,
    AdmissionTicket,
    PriceLookup,
    RateCharge,
    budget_refusal,
    crossed_threshold,
)
from collector.budgets._batch import ReserveAsk, SettleAsk, release_expired
from collector.budgets._bookings import clean_ended, ingest_key, job_key, period_ended
from collector.budgets._cost import catalog_prices, output_cap, worst_case_cost
from collector.budgets._counters import Hold, Refusal, Reservation, SettledCounter
from collector.budgets._errors import BudgetStoreUnavailable
from collector.budgets._lease import LeasePool
from collector.budgets._ledger import UNREACHABLE, Ledger
from collector.budgets._period import counter_window, parse_timezone
from collector.budgets._policy import Policy, PolicyCache
from collector.budgets._rates import charge_rates, settle_rates
from collector.budgets._reconcile import reconcile_spent
from collector.budgets._scope import ScopeKind, Subject, matches
from collector.budgets._spec import BudgetSpec, Mode
from collector.errors import BudgetExceeded, GatewayError
from collector.ratelimit import RateLimiter, make_limiter
from collector.settings import Settings

_log = logging.getLogger("collector.budgets")
_CLEAN_EVERY = timedelta(hours=1)  # between cleans of ended bookings (per process)


class Admitter:
    """One per gateway process (created in the lifespan), used from its event loop."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        limiter: RateLimiter | None = None,
        prices: PriceLookup = catalog_prices,
        on_threshold: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._tz = parse_timezone(settings.timezone)
        self._limiter = limiter if limiter is not None else make_limiter(settings)
        self._prices = prices
        self._on_threshold = on_threshold
        self._policy = PolicyCache(engine, settings.budget_cache_ttl_s)
        ttl = timedelta(seconds=settings.budget_hold_ttl_s)
        self.ledger = Ledger(engine, self._tz, ttl, on_settled=self._check_thresholds)
        self._cleaned_at: datetime | None = None  # the last clean of ended bookings
        self.leases = LeasePool(
            self.ledger, self._tz, settings.budget_lease_requests, settings.budget_lease_max_age_s
        )

    def invalidate(self) -> None:
        """Forget cached budgets and limits (after an admin change)."""
        self._policy.invalidate()
        self.leases.retire_all()

    async def admit(self, ctx: AdmissionContext) -> AdmissionTicket:
        """Admit or raise RateLimited / BudgetExceeded / BudgetStoreUnavailable."""
        policy = await self._load_policy()
        if policy is None:  # database down, fail_open, nothing cached
            return AdmissionTicket(unchecked=True)
        out_tokens = ctx.n * ctx.max_output_tokens if ctx.max_output_tokens is not None else 0
        rates = await charge_rates(self._limiter, ctx, policy, out_tokens)
        try:
            return await self._reserve(ctx, policy, rates)
        except GatewayError:
            # refused by a budget (or its store): the rate limits must not keep the charge
            if rates.limits:
                await self._limiter.refund(rates.limits, ctx.now)
            raise

    async def _reserve(
        self, ctx: AdmissionContext, policy: Policy, rates: RateCharge
    ) -> AdmissionTicket:
        """Hold the worst case on every hard budget covering the request (lease, or exact)."""
        hard = [b for b in policy.budgets if b.mode is Mode.HARD and matches(b.scope, ctx.subject)]
        if not hard or ctx.worst_case_usd == 0:
            return AdmissionTicket(rates=rates)
        try:
            if ctx.worst_case_usd is not None:
                # a job's estimate is reserved on its own: its booking is replaced later
                worst = ctx.worst_case_usd
            else:
                # far from the limit a lease takes the worst case on the prompt's cheap
                # bound; a reservation of its own (near the limit) counts the prompt exactly
                worst = self._worst_case(ctx, hard[0], ctx.prompt_upper_bound())
                leases = await self.leases.admit(hard, worst, ctx.now)
                if leases is not None:
                    return AdmissionTicket(None, worst, rates, leases=leases)
                if ctx.prompt_bound is not None:
                    worst = self._worst_case(ctx, hard[0], ctx.exact_prompt_tokens())
            result = await self.ledger.reserve(ReserveAsk(tuple(hard), worst, ctx.now))
        except DBAPIError as exc:
            return self._store_down(exc, ctx, hard, rates)
        if isinstance(result, Refusal):
            raise budget_refusal(result, self._settings.timezone)
        return AdmissionTicket(result, worst, rates)

    async def applies(self, subject: Subject, key_rpm: int | None, key_tpm: int | None) -> bool:
        """Whether any rate limit or hard budget covers this request (cached policy only)."""
        if key_rpm is not None or key_tpm is not None:
            return True
        policy = await self._load_policy()
        if policy is None:
            return False
        project = policy.projects.get(subject.project or "")
        if project is not None and (project.rpm is not None or project.tpm is not None):
            return True
        return any(b.mode is Mode.HARD and matches(b.scope, subject) for b in policy.budgets)

    async def hard_budgets_cover(self, subject: Subject) -> bool:
        """Whether a hard budget may cover ``subject`` whatever its model turns out to be
        (cached policy only; a model-scoped budget counts)."""
        policy = await self._load_policy()
        if policy is None:
            return False
        return any(
            b.mode is Mode.HARD and (b.scope.kind is ScopeKind.MODEL or matches(b.scope, subject))
            for b in policy.budgets
        )

    async def book(
        self, spends: Iterable[tuple[Subject, Decimal, datetime, str]], now: datetime
    ) -> Decimal:
        """Book spend that was never admitted here (calls reported to the ingest API, each
        with its request id) on every hard budget covering it, in the period it ran: later
        requests are held against it, and a threshold it crossed wakes the alert evaluator,
        as a relayed request's settle does. A request id booked before (a replayed call) is
        not booked again (``_bookings``); nor is a call whose period has ended at ``now``
        on a budget (no admission reads it, and its booking may have been cleaned). Returns
        what was asked to be booked (summed over budgets). Never raises: reported calls are
        recorded either way, and budget status also reads the recorded rows."""
        try:
            policy = await self._load_policy()
        except GatewayError:
            return Decimal(0)
        hard = [b for b in policy.budgets if b.mode is Mode.HARD] if policy else []
        if not hard:
            return Decimal(0)
        groups: dict[tuple[tuple[int, datetime], ...], _Booking] = {}
        for subject, cost, at, request_id in spends:
            covering = tuple(
                b for b in hard if matches(b.scope, subject) and not self._ended(b, at, now)
            )
            if cost <= 0 or not covering:
                continue
            spans = tuple(
                (b.id or 0, counter_window(b.period, at, self._tz).start) for b in covering
            )
            group = groups.setdefault(spans, _Booking(covering, at))
            group.cost += cost
            group.once.append((ingest_key(request_id), cost))
        booked = Decimal(0)
        for spans, group in groups.items():
            await self._book_one(group, spans)
            booked += group.cost * len(spans)
        return booked

    def _ended(self, budget: BudgetSpec, at: datetime, now: datetime) -> bool:
        return period_ended(
            budget, counter_window(budget.period, at, self._tz).start, now, self._tz
        )

    async def _book_one(self, group: _Booking, spans: tuple[tuple[int, datetime], ...]) -> None:
        """A hold of nothing (which creates the period's counters, seeded with the spend
        recorded so far), replaced at once by the cost."""
        try:
            held = await self.ledger.reserve(ReserveAsk(group.budgets, Decimal(0), group.at))
        except DBAPIError as exc:
            _log.warning("budgets: reported spend not booked now (%s); it is recorded", exc)
            held = None
        if not isinstance(held, Reservation):  # over the limit already, or the store is down
            holds = tuple(
                Hold(bid, b.name, start, Decimal(0))
                for (bid, start), b in zip(spans, group.budgets, strict=True)
            )
            held = Reservation(uuid.uuid4().hex, holds, Decimal(0))
        self.ledger.settle_nowait(SettleAsk(held, group.cost, once=tuple(group.once)))

    async def settle(
        self,
        admission: AdmissionTicket,
        *,
        actual_cost: Decimal | None,
        completion_tokens: int,
        now: datetime,
        wait: bool = True,
        job: str | None = None,
        prompt_tokens: int | None = None,
    ) -> None:
        """Book the request's real cost (None = unpriced: the hold is kept as spent), and
        correct the rate limits' charge with the tokens used (``prompt_tokens``: reported by
        upstream, None without usage).

        ``wait=False`` queues the settle for the next batch and returns at once. ``job``:
        the request created this Batch API job, whose estimate is booked until its lines
        replace it (``_bookings.replace_booked``).
        """
        await settle_rates(self._limiter, admission.rates, prompt_tokens, completion_tokens, now)
        if admission.leases:
            worst = admission.worst_case_usd or Decimal(0)
            cost = actual_cost if actual_cost is not None else worst
            self.leases.settle(admission.leases, worst, cost)
            return
        reservation = admission.reservation or _unchecked(admission, actual_cost, job)
        if reservation is None:
            return
        cost = actual_cost if actual_cost is not None else reservation.amount_usd
        keep = job_key(job) if job is not None and actual_cost is None else None
        await self._finish(SettleAsk(reservation, cost, keep=keep), wait)

    async def release(self, admission: AdmissionTicket, now: datetime) -> None:
        """Give the hold back: the request failed before it could cost anything."""
        if admission.leases:
            worst = admission.worst_case_usd or Decimal(0)
            self.leases.settle(admission.leases, worst, Decimal(0))
        if admission.reservation is not None:
            await self._finish(SettleAsk(admission.reservation, Decimal(0)), True)

    async def sweep(self, now: datetime) -> int:
        """Release holds of processes that died before settling (run periodically); if there
        were any, raise the hard budgets' spent to what was recorded (see ``_reconcile``).
        Then clean the reported calls' bookings of ended periods."""
        released, periods = await asyncio.to_thread(release_expired, self._engine, now)
        if released:
            policy = await self._policy.get()
            hard = [b for b in policy.budgets if b.mode is Mode.HARD]
            added = await asyncio.to_thread(
                reconcile_spent, self._engine, hard, now, self._tz, periods
            )
            if added:
                _log.warning("budgets: booked %s of recorded spend a dead process left out", added)
        await self._clean_bookings(now)
        return released

    async def _clean_bookings(self, now: datetime) -> None:
        """Reported calls' bookings whose period has ended go (``_bookings.clean_ended``), at
        most once an hour: a period ends a day at the soonest, and each clean scans them."""
        if self._cleaned_at is not None and now - self._cleaned_at < _CLEAN_EVERY:
            return
        policy = self._policy.current  # as admission last loaded it: loading it here would
        if policy is None:  # cache it early (a budget created meanwhile unseen till expiry)
            return
        self._cleaned_at = now
        if policy.budgets:
            tz = self._tz
            cleaned = await asyncio.to_thread(clean_ended, self._engine, policy.budgets, now, tz)
            if cleaned:
                _log.info("budgets: %d bookings of ended periods cleaned", cleaned)

    async def aclose(self) -> None:
        """Return the leases, book the queued settles (bounded wait), close the rate limiter."""
        self.leases.retire_all(force=True)
        await self.ledger.aclose()
        await self._limiter.aclose()

    async def _load_policy(self) -> Policy | None:
        try:
            return await self._policy.get()
        except UNREACHABLE as exc:
            if self._settings.db_failure_policy == "fail_closed":
                raise self._unavailable() from exc
            _log.warning("budgets unavailable (%s); admitting unchecked (fail_open)", exc)
            return None

    def _worst_case(self, ctx: AdmissionContext, budget: BudgetSpec, prompt: int) -> Decimal:
        prices = self._prices(ctx.model, ctx.now, ctx.service_tier)
        if prices is None:
            raise BudgetExceeded(
                f"Model '{ctx.model}' has no known price, so hard budget '{budget.name}' "
                "cannot bound its cost; add a price override or use a priced model."
            )
        cap = ctx.max_output_tokens
        if cap is None:
            cap = output_cap(ctx.model, self._settings.budget_default_output_cap)
        return worst_case_cost(prices, prompt, cap, ctx.n)

    def _store_down(
        self, exc: Exception, ctx: AdmissionContext, hard: list[BudgetSpec],
        rates: RateCharge,
    ) -> AdmissionTicket:  # fmt: skip
        """fail_closed: 503. fail_open: admit unchecked, and book the cost once it is known."""
        if self._settings.db_failure_policy == "fail_closed":
            raise self._unavailable() from exc
        _log.warning("hard budgets unchecked: database unreachable (%s); fail_open admits", exc)
        spans = [(b, counter_window(b.period, ctx.now, self._tz).start) for b in hard]
        book = tuple(Hold(b.id or 0, b.name, start, Decimal(0)) for b, start in spans)
        return AdmissionTicket(
            worst_case_usd=ctx.worst_case_usd,  # a job's estimate, booked at its settle
            rates=rates, unchecked=True, book=book,
        )  # fmt: skip

    @staticmethod
    def _unavailable() -> BudgetStoreUnavailable:
        return BudgetStoreUnavailable(
            "Spend limits cannot be checked because the spendscope database is unreachable, "
            "and this gateway is configured to fail closed (SPENDSCOPE_DB_FAILURE_POLICY). "
            "Try again shortly.",
            headers={"Retry-After": "5"},
        )

    async def _finish(self, ask: SettleAsk, wait: bool) -> None:
        if not wait:
            self.ledger.settle_nowait(ask)
            return
        try:
            await self.ledger.settle(ask)
        except DBAPIError as exc:
            _log.warning("settle failed (%s); it is retried while the database is down", exc)

    def _check_thresholds(self, counters: list[SettledCounter]) -> None:
        """Wake the alert evaluator when settling moved a budget over a threshold."""
        policy = self._policy.current
        if self._on_threshold is None or policy is None:
            return
        by_id = {b.id: b for b in policy.budgets}
        if any(c.budget_id in by_id and crossed_threshold(by_id[c.budget_id], c) for c in counters):
            self._on_threshold()


def _unchecked(
    admission: AdmissionTicket, actual_cost: Decimal | None, job: str | None
) -> Reservation | None:
    """What a request admitted unchecked (fail_open) books on the counters it would have
    been held on: its cost, or a Batch API job's estimate — kept under the job, like any
    job's, so its lines' exact cost replaces it (``replace_booked``). None: nothing to book."""
    if not admission.book:
        return None
    if actual_cost:  # no hold to replace, but the spend still counts
        return Reservation(uuid.uuid4().hex, admission.book, Decimal(0))
    if job is not None and actual_cost is None and admission.worst_case_usd:
        return Reservation(uuid.uuid4().hex, admission.book, admission.worst_case_usd)
    return None


@dataclass(slots=True)
class _Booking:
    """Reported spend on one set of budget counters."""

    budgets: tuple[BudgetSpec, ...]
    at: datetime
    cost: Decimal = Decimal(0)
    once: list[tuple[str, Decimal]] = field(default_factory=list)  # (booking key, cost)
