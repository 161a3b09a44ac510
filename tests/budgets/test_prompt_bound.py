"""Admission counts the prompt with a tokenizer only when the count can change the answer.

Far from a hard budget's limit, a lease takes the worst case on the prompt's cheap byte
bound; near it, a reservation of its own counts exactly, so nothing is refused that the
exact count would admit. A tokens-per-minute limit always counts exactly.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine

from collector.errors import BudgetExceeded
from collector.settings import load_settings
from tests.budgets.test_admission import admitter, budget, ctx
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


async def test_only_a_tokens_per_minute_limit_counts_the_prompt(engine: Engine) -> None:
    make_project(engine, "acme")
    a = admitter(engine, load_settings(budget_lease_requests=0))
    rpm_only = Counter()
    await a.admit(ctx(key_rpm=100, prompt_tokens=0, count_prompt=rpm_only, prompt_bound=BOUND))
    assert rpm_only.calls == 0
    tpm = Counter()
    await a.admit(ctx(key_tpm=10**9, prompt_tokens=0, count_prompt=tpm, prompt_bound=BOUND))
    assert tpm.calls == 1  # a TPM limit is charged the exact count, never the bound
