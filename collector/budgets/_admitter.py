"""The gateway's admission object: rate limits, then hard-budget reservations."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from collector.budgets._admission import (
    Admission,
    AdmissionContext,
    PriceLookup,
    budget_refusal,
    crossed_threshold,
    rate_refusal,
)
from collector.budgets._cost import catalog_prices, output_cap, worst_case_cost
from collector.budgets._counters import Refusal, Reservation, reserve, settle, sweep_expired
from collector.budgets._errors import BudgetStoreUnavailable
from collector.budgets._period import parse_timezone
from collector.budgets._policy import Policy, PolicyCache
from collector.budgets._scope import matches
from collector.budgets._spec import BudgetSpec, Mode
from collector.errors import BudgetExceeded
from collector.ratelimit import RateLimiter, make_limiter, request_limits
from collector.settings import Settings

_log = logging.getLogger("collector.budgets")
_UNREACHABLE = (OperationalError, InterfaceError)


class Admitter:
    """One per gateway process (created in the lifespan). Thread-safe; async API."""

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

    def invalidate(self) -> None:
        """Forget cached budgets and limits (after an admin change)."""
        self._policy.invalidate()

    async def admit(self, ctx: AdmissionContext) -> Admission:
        """Admit or raise RateLimited / BudgetExceeded / BudgetStoreUnavailable."""
        policy = await self._load_policy()
        if policy is None:  # database down, fail_open, nothing cached
            return Admission(unchecked=True)
        out_tokens = ctx.n * ctx.max_output_tokens if ctx.max_output_tokens is not None else 0
        tpm_keys = await self._rate_limit(ctx, policy, ctx.prompt_tokens + out_tokens)
        hard = [b for b in policy.budgets if b.mode is Mode.HARD and matches(b.scope, ctx.subject)]
        if not hard:
            return Admission(tpm_keys=tpm_keys, charged_output_tokens=out_tokens)
        worst = self._worst_case(ctx, hard[0])
        try:
            result = await asyncio.to_thread(self._reserve, hard, worst, ctx.now)
        except _UNREACHABLE as exc:
            return self._store_down(exc, tpm_keys, out_tokens)
        if isinstance(result, Refusal):
            raise budget_refusal(result, self._settings.timezone)
        return Admission(result, worst, tpm_keys, out_tokens)

    async def settle(
        self,
        admission: Admission,
        *,
        actual_cost: Decimal | None,
        completion_tokens: int,
        now: datetime,
    ) -> None:
        """Book the request's real cost (None = unpriced: the hold is kept as spent)."""
        extra = completion_tokens - admission.charged_output_tokens
        if extra > 0 and admission.tpm_keys:
            await self._limiter.add(admission.tpm_keys, extra, now)
        reservation = admission.reservation
        if reservation is None:
            return
        cost = actual_cost if actual_cost is not None else reservation.amount_usd
        await self._finish(reservation, cost, now)

    async def release(self, admission: Admission, now: datetime) -> None:
        """Give the hold back: the request failed before it could cost anything."""
        if admission.reservation is not None:
            await self._finish(admission.reservation, Decimal(0), now)

    async def sweep(self, now: datetime) -> int:
        """Release holds of processes that died before settling (run periodically)."""
        return await asyncio.to_thread(sweep_expired, self._engine, now)

    async def aclose(self) -> None:
        await self._limiter.aclose()

    async def _load_policy(self) -> Policy | None:
        try:
            return await self._policy.get()
        except _UNREACHABLE as exc:
            if self._settings.db_failure_policy == "fail_closed":
                raise self._unavailable() from exc
            _log.warning("budgets unavailable (%s); admitting unchecked (fail_open)", exc)
            return None

    async def _rate_limit(
        self, ctx: AdmissionContext, policy: Policy, tokens: int
    ) -> tuple[str, ...]:
        project = policy.projects.get(ctx.project or "")
        limits = request_limits(
            key_id=ctx.api_key_id, key_label=ctx.key_prefix, key_rpm=ctx.key_rpm,
            key_tpm=ctx.key_tpm, project=ctx.project, tokens=tokens,
            project_rpm=project.rpm if project else None,
            project_tpm=project.tpm if project else None,
        )  # fmt: skip
        if not limits:
            return ()
        decision = await self._limiter.acquire(limits, ctx.now)
        if not decision.allowed:
            raise rate_refusal(decision)
        return tuple(lim.key for lim in limits if lim.key.endswith(":tpm"))

    def _worst_case(self, ctx: AdmissionContext, budget: BudgetSpec) -> Decimal:
        prices = self._prices(ctx.model, ctx.now, ctx.service_tier)
        if prices is None:
            raise BudgetExceeded(
                f"Model '{ctx.model}' has no known price, so hard budget '{budget.name}' "
                "cannot bound its cost; add a price override or use a priced model."
            )
        cap = ctx.max_output_tokens
        if cap is None:
            cap = output_cap(ctx.model, self._settings.budget_default_output_cap)
        return worst_case_cost(prices, ctx.prompt_tokens, cap, ctx.n)

    def _reserve(
        self, budgets: list[BudgetSpec], amount: Decimal, now: datetime
    ) -> Reservation | Refusal:
        ttl = timedelta(seconds=self._settings.budget_hold_ttl_s)
        return reserve(self._engine, budgets, amount, now, self._tz, ttl)

    def _store_down(self, exc: Exception, tpm_keys: tuple[str, ...], out: int) -> Admission:
        if self._settings.db_failure_policy == "fail_closed":
            raise self._unavailable() from exc
        _log.warning("hard budgets unchecked: database unreachable (%s); fail_open admits", exc)
        return Admission(tpm_keys=tpm_keys, charged_output_tokens=out, unchecked=True)

    @staticmethod
    def _unavailable() -> BudgetStoreUnavailable:
        return BudgetStoreUnavailable(
            "Spend limits cannot be checked because the spendscope database is unreachable, "
            "and this gateway is configured to fail closed (SPENDSCOPE_DB_FAILURE_POLICY). "
            "Try again shortly.",
            headers={"Retry-After": "5"},
        )

    async def _finish(self, reservation: Reservation, cost: Decimal, now: datetime) -> None:
        try:
            counters = await asyncio.to_thread(settle, self._engine, reservation, cost, now)
        except _UNREACHABLE as exc:
            _log.warning(
                "settle failed (%s); the hold expires and the recorder keeps the cost", exc
            )
            return
        if self._on_threshold is None:
            return
        by_id = {b.id: b for b in (await self._policy.get()).budgets}
        if any(c.budget_id in by_id and crossed_threshold(by_id[c.budget_id], c) for c in counters):
            self._on_threshold()
