"""The gateway's admission hook: rate limits, hard budgets, refusals, fail-open/closed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from collector.budgets import (
    AdmissionContext,
    Admitter,
    BudgetSpec,
    BudgetStoreUnavailable,
    Mode,
    TokenPrices,
    budget_statuses,
    catalog_prices,
    create_budget,
    parse_period,
    parse_scope,
    parse_timezone,
)
from collector.db import Project, make_engine, session_scope
from collector.errors import BudgetExceeded, RateLimited
from collector.keys._types import KeyPrincipal
from collector.settings import Settings, load_settings
from tests.factories import make_project
from tests.support.templates import migrate

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
PRICES = TokenPrices(Decimal("1.00"), Decimal("4.00"))  # per 1M tokens


def fixed_prices(model: str, at: datetime, tier: str | None) -> TokenPrices | None:
    return None if model == "mystery-model" else PRICES


def ctx(**kw: object) -> AdmissionContext:
    base: dict[str, object] = {
        "model": "gpt-4o-mini", "prompt_tokens": 1000, "now": NOW, "max_output_tokens": 500,
        "project": "acme", "api_key_id": 7, "key_prefix": "sk-ss-abc",
    }  # fmt: skip
    base.update(kw)
    return AdmissionContext(**base)  # type: ignore[arg-type]


def budget(engine: Engine, amount: str, mode: Mode = Mode.HARD, name: str = "acme-day") -> None:
    spec = BudgetSpec(name, parse_scope("project:acme"), parse_period("day"), Decimal(amount), mode)
    create_budget(engine, spec, NOW)


def admitter(engine: Engine, settings: Settings | None = None, **kw: object) -> Admitter:
    return Admitter(engine, settings or load_settings(), prices=fixed_prices, **kw)  # type: ignore[arg-type]


async def test_hard_budget_admits_worst_cases_then_refuses_clearly(engine: Engine) -> None:
    make_project(engine, "acme")
    budget(engine, "0.01")  # worst case per request: 1000×1 + 500×4 = 3000 µ$ = $0.003
    a = admitter(engine)
    admitted = [await a.admit(ctx()) for _ in range(3)]
    assert [x.worst_case_usd for x in admitted] == [Decimal("0.003")] * 3
    with pytest.raises(BudgetExceeded) as info:
        await a.admit(ctx())
    err = info.value
    assert "Budget 'acme-day'" in err.message and "$0.009 reserved of $0.01" in err.message
    assert "resets at 2026-11-16T00:00:00+00:00" in err.message
    assert err.response_headers()["x-should-retry"] == "false"
    assert err.status == 429 and err.body()["error"]["code"] == "insufficient_quota"
    await a.settle(admitted[0], actual_cost=Decimal("0.0012"), completion_tokens=80, now=NOW)
    await a.release(admitted[1], NOW)
    [status] = budget_statuses(engine, NOW, parse_timezone("UTC"))
    assert (status.spent_usd, status.reserved_usd) == (Decimal("0.0012"), Decimal("0.003"))


async def test_other_scopes_and_soft_budgets_do_not_block(engine: Engine) -> None:
    make_project(engine, "acme")
    budget(engine, "0.001", mode=Mode.SOFT)
    a = admitter(engine)
    assert (await a.admit(ctx())).reservation is None
    budget(engine, "0.001", name="acme-hard")
    a.invalidate()
    assert (await a.admit(ctx(project="other"))).reservation is None
    with pytest.raises(BudgetExceeded):
        await a.admit(ctx())


async def test_missing_max_tokens_reserves_the_model_output_cap(engine: Engine) -> None:
    make_project(engine, "acme")
    budget(engine, "1")
    admission = await admitter(engine).admit(ctx(max_output_tokens=None, n=2))
    assert admission.worst_case_usd == Decimal("0.132072")  # 1000×1 + 2×16384×4 per 1M


async def test_unpriced_model_cannot_pass_a_hard_budget(engine: Engine) -> None:
    make_project(engine, "acme")
    a = admitter(engine)
    assert (await a.admit(ctx(model="mystery-model"))).reservation is None  # no hard budget
    budget(engine, "5")
    a.invalidate()
    with pytest.raises(BudgetExceeded, match="'mystery-model' has no known price"):
        await a.admit(ctx(model="mystery-model"))


async def test_threshold_crossing_wakes_the_evaluator(engine: Engine) -> None:
    make_project(engine, "acme")
    budget(engine, "0.01")
    calls: list[int] = []
    a = admitter(engine, on_threshold=lambda: calls.append(1))
    first = await a.admit(ctx())
    await a.settle(first, actual_cost=Decimal("0.004"), completion_tokens=10, now=NOW)
    assert calls == []  # 40 %
    second = await a.admit(ctx())
    await a.settle(second, actual_cost=Decimal("0.0015"), completion_tokens=10, now=NOW)
    assert calls == [1]  # 55 % crosses 50 %


async def test_key_and_project_rate_limits_refuse_with_retry_after(engine: Engine) -> None:
    make_project(engine, "acme")
    with session_scope(engine) as s:
        s.execute(update(Project).where(Project.name == "acme").values(tpm_limit=4000))
    a = admitter(engine)
    assert (await a.admit(ctx(key_rpm=2))).reservation is None
    await a.admit(ctx(key_rpm=2))
    with pytest.raises(RateLimited) as info:
        await a.admit(ctx(key_rpm=2))
    assert "requests per minute of key sk-ss-abc is 2" in info.value.message
    # 2 in this window: the next window must be half over before 2 × (1 − f) + 1 <= 2.
    assert info.value.response_headers() == {"Retry-After": "90", "x-should-retry": "false"}
    later = NOW + timedelta(minutes=5)
    await a.admit(ctx(now=later, prompt_tokens=2000, max_output_tokens=1000))
    with pytest.raises(RateLimited, match="tokens per minute of project acme is 4000"):
        await a.admit(ctx(now=later, prompt_tokens=1000, max_output_tokens=500))
    with pytest.raises(RateLimited, match="can never be admitted"):
        await a.admit(ctx(now=later + timedelta(hours=1), prompt_tokens=5000))


def _break_sqlite(engine: Engine, db: Path) -> None:
    """The database goes away: the file is moved, so every query fails."""
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(db) + suffix)
        if src.exists():
            src.rename(str(src) + ".gone")


@pytest.mark.parametrize("policy", ["fail_open", "fail_closed"])
async def test_database_down_policy(
    tmp_path: Path, policy: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "down.db"
    migrate(f"sqlite:///{db}")
    engine = make_engine(f"sqlite:///{db}")
    make_project(engine, "acme")
    budget(engine, "5")
    # no lease: a lease taken while up would (rightly) keep admitting from its headroom
    a = admitter(engine, load_settings(db_failure_policy=policy, budget_lease_requests=0))
    assert (await a.admit(ctx())).reservation is not None  # caches budgets while up
    _break_sqlite(engine, db)
    if policy == "fail_closed":
        with pytest.raises(BudgetStoreUnavailable) as info:
            await a.admit(ctx())
        assert info.value.status == 503
        assert "fail closed" in info.value.message
        assert info.value.response_headers()["Retry-After"] == "5"
    else:
        with caplog.at_level(logging.WARNING, logger="collector.budgets"):
            admission = await a.admit(ctx())
        assert admission.unchecked and admission.reservation is None
        assert "fail_open" in caplog.text
    engine.dispose()


async def test_database_down_before_anything_was_cached() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1"
    engine = make_engine(url)
    open_admit = await admitter(engine, load_settings(db_failure_policy="fail_open")).admit(ctx())
    assert open_admit.unchecked
    closed = admitter(engine, load_settings(db_failure_policy="fail_closed"))
    with pytest.raises(BudgetStoreUnavailable):
        await closed.admit(ctx())


def test_context_from_a_resolved_key_and_catalog_prices() -> None:
    principal = KeyPrincipal(3, 1, "acme", "sk-ss-x", "u1", {"team": "a"}, 60, None)
    c = AdmissionContext.for_principal(principal, model="gpt-4o", prompt_tokens=5, now=NOW)
    assert (c.project, c.api_key_id, c.key_rpm, c.user, c.tags) == (
        "acme",
        3,
        60,
        "u1",
        {"team": "a"},
    )
    prices = catalog_prices("gpt-4o-mini", NOW)
    assert prices is not None and prices.output_per_1m > prices.input_per_1m > 0
    assert catalog_prices("no-such-model-xyz", NOW) is None
