"""Admission counts the prompt with a tokenizer only when the count can change the answer.

Far from a hard budget's limit, a lease takes the worst case on the prompt's cheap byte
bound; near it, a reservation of its own counts exactly, so nothing is refused that the
exact count would admit. A tokens-per-minute limit is charged the bound too, counted exactly
only when the bound does not fit, and the bound is replaced by upstream's reported prompt tokens
when the request ends.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine

from collector.budgets import AdmissionContext
from collector.errors import BudgetExceeded, RateLimited
from collector.settings import load_settings
from tests.budgets.test_admission import NOW, admitter, budget, ctx
from tests.factories import make_project

EXACT, BOUND = 1000, 5000  # prompt tokens: counted, and the byte bound
# worst cases at $1 / $4 per 1M tokens with max_tokens 500
EXACT_WORST, BOUND_WORST = Decimal("0.003"), Decimal("0.007")


class Counter:
    """A prompt counter that remembers being called (the tokenizer's stand-in)."""

    def __init__(self, tokens: int = EXACT) -> None:
        self.tokens, self.calls = tokens, 0

    def __call__(self) -> int:
        self.calls += 1
        return self.tokens


async def test_near_the_limit_the_prompt_is_counted_exactly(engine: Engine) -> None:
    make_project(engine, "acme")
    budget(engine, "0.01")  # too small for a lease: every request is reserved on its own
    a = admitter(engine)
    counters = [Counter() for _ in range(4)]
    admitted = [
        await a.admit(ctx(prompt_tokens=0, count_prompt=c, prompt_bound=BOUND))
        for c in counters[:3]
    ]
    assert [x.worst_case_usd for x in admitted] == [EXACT_WORST] * 3  # not 0.007 each
    assert [c.calls for c in counters[:3]] == [1, 1, 1]
    with pytest.raises(BudgetExceeded, match=r"may cost up to \$0\.003\."):
        await a.admit(ctx(prompt_tokens=0, count_prompt=counters[3], prompt_bound=BOUND))


async def test_far_from_the_limit_a_lease_holds_the_bound_without_counting(
    engine: Engine,
) -> None:
    make_project(engine, "acme")
    budget(engine, "1000")
    a = admitter(engine)
    counter = Counter()
    admission = await a.admit(ctx(prompt_tokens=0, count_prompt=counter, prompt_bound=BOUND))
    assert admission.leases and admission.worst_case_usd == BOUND_WORST
    assert counter.calls == 0
    await a.settle(admission, actual_cost=EXACT_WORST, completion_tokens=500, now=ctx().now)


async def test_without_a_bound_the_exact_count_is_used(engine: Engine) -> None:
    make_project(engine, "acme")
    budget(engine, "1000")
    counter = Counter()
    admission = await admitter(engine).admit(ctx(prompt_tokens=0, count_prompt=counter))
    assert admission.worst_case_usd == EXACT_WORST and counter.calls == 1


async def test_a_tokens_per_minute_limit_is_charged_the_bound_without_counting(
    engine: Engine,
) -> None:
    make_project(engine, "acme")
    a = admitter(engine, load_settings(budget_lease_requests=0))
    rpm_only = Counter()
    await a.admit(ctx(key_rpm=100, prompt_tokens=0, count_prompt=rpm_only, prompt_bound=BOUND))
    assert rpm_only.calls == 0
    tpm = Counter()
    await a.admit(ctx(key_tpm=10**9, prompt_tokens=0, count_prompt=tpm, prompt_bound=BOUND))
    assert tpm.calls == 0  # the byte bound fits: no tokenizer


def tpm_ctx(counter: Counter, limit: int) -> AdmissionContext:
    return ctx(key_tpm=limit, prompt_tokens=0, count_prompt=counter, prompt_bound=BOUND)


async def test_a_bound_the_tpm_limit_refuses_is_counted_exactly(engine: Engine) -> None:
    make_project(engine, "acme")
    a = admitter(engine, load_settings(budget_lease_requests=0))
    limit = 2 * (EXACT + 500)  # two exact prompts with max_tokens 500 fit, one bound does not
    counters = [Counter() for _ in range(3)]
    for counter in counters[:2]:
        admission = await a.admit(tpm_ctx(counter, limit))
        assert admission.rates.bound_prompt == 0  # charged exactly
    assert [c.calls for c in counters[:2]] == [1, 1]
    with pytest.raises(RateLimited, match="tokens per minute of key"):
        await a.admit(tpm_ctx(counters[2], limit))  # the window is full, counted or not


async def test_settle_replaces_the_bound_with_the_reported_prompt(engine: Engine) -> None:
    make_project(engine, "acme")
    a = admitter(engine, load_settings(budget_lease_requests=0))
    limit = BOUND + 500 + 2 * (EXACT + 500)  # a bound and two exact requests
    first = await a.admit(tpm_ctx(Counter(), limit))
    assert first.rates.bound_prompt == BOUND
    # BOUND - EXACT refunded: the window holds EXACT + 500, room for a bound and an exact
    await a.settle(first, actual_cost=None, completion_tokens=500, now=NOW, prompt_tokens=EXACT)
    counters = [Counter() for _ in range(3)]
    for counter in counters[:2]:
        await a.admit(tpm_ctx(counter, limit))  # a bound, then only an exact count fits
    assert [c.calls for c in counters[:2]] == [0, 1]
    with pytest.raises(RateLimited, match="tokens per minute of key"):
        await a.admit(tpm_ctx(counters[2], limit))


async def test_without_usage_the_bound_stays_charged(engine: Engine) -> None:
    make_project(engine, "acme")
    a = admitter(engine, load_settings(budget_lease_requests=0))
    limit = BOUND + 500 + EXACT + 500
    first = await a.admit(tpm_ctx(Counter(), limit))
    await a.settle(first, actual_cost=None, completion_tokens=0, now=NOW)  # no usage
    second = Counter()
    await a.admit(tpm_ctx(second, limit))
    assert second.calls == 1  # only the exact count still fits
    with pytest.raises(RateLimited, match="tokens per minute of key"):
        await a.admit(tpm_ctx(Counter(), limit))
