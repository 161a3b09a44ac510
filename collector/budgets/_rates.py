"""Rate limits at admission: an RPM limit is charged 1, a TPM limit the prompt and max output.

A TPM limit is charged the prompt's cheap byte bound (``AdmissionContext.prompt_bound``), so
that admitting a request loads no tokenizer (an encoding costs a process tens of MB). Only
when the bound is refused is the prompt counted exactly and the charge tried again, so nothing
is refused that the exact count would admit. Once the request ends, the bound is replaced by
the prompt tokens upstream reported (the difference is refunded into the window it was charged
to); a request that ends without usage keeps the bound. Output tokens past ``max_tokens`` are
charged after the response, unchecked, as before.
"""

from __future__ import annotations

from datetime import datetime

from collector.budgets._admission import AdmissionContext, RateCharge, rate_refusal
from collector.budgets._policy import Policy
from collector.ratelimit import Limit, RateLimiter, request_limits

__all__ = ["charge_rates", "settle_rates"]


async def charge_rates(
    limiter: RateLimiter, ctx: AdmissionContext, policy: Policy, out: int
) -> RateCharge:
    """Charge the request's rate limits or raise ``RateLimited`` (nothing charged then)."""
    project = policy.projects.get(ctx.project or "")
    tpm = ctx.key_tpm is not None or (project is not None and project.tpm is not None)
    bound = ctx.prompt_bound if tpm else None
    prompt = 0
    if tpm:  # the bound when one is known, else the exact count
        prompt = bound if bound is not None else ctx.exact_prompt_tokens()
    limits = _limits(ctx, policy, prompt + out)
    if not limits:
        return RateCharge(output_tokens=out)
    decision = await limiter.acquire(limits, ctx.now)
    refused = decision.exceeded
    if bound is not None and refused is not None and refused.key.endswith(":tpm"):
        exact = ctx.exact_prompt_tokens()  # the bound may be what does not fit
        if exact < bound:
            bound = None
            limits = _limits(ctx, policy, exact + out)
            decision = await limiter.acquire(limits, ctx.now)
    if not decision.allowed:
        raise rate_refusal(decision)
    return RateCharge(tuple(limits), out, bound or 0, ctx.now)


async def settle_rates(
    limiter: RateLimiter, charge: RateCharge, prompt_tokens: int | None, completion_tokens: int,
    now: datetime,
) -> None:  # fmt: skip
    """Charge output past what was charged up front; replace a charged bound by the prompt
    tokens upstream reported (``None``: no usage came back, the bound stays)."""
    keys = charge.tpm_keys
    if not keys:
        return
    extra = completion_tokens - charge.output_tokens
    if extra > 0:
        await limiter.add(keys, extra, now)
    over = charge.bound_prompt - prompt_tokens if prompt_tokens is not None else 0
    if over > 0 and charge.at is not None:
        await limiter.refund([Limit(key, 0, over, "") for key in keys], charge.at)


def _limits(ctx: AdmissionContext, policy: Policy, tokens: int) -> list[Limit]:
    project = policy.projects.get(ctx.project or "")
    return request_limits(
        key_id=ctx.api_key_id, key_label=ctx.key_prefix, key_rpm=ctx.key_rpm,
        key_tpm=ctx.key_tpm, project=ctx.project, tokens=tokens,
        project_rpm=project.rpm if project else None,
        project_tpm=project.tpm if project else None,
    )  # fmt: skip
