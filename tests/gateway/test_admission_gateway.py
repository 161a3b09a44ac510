"""Budgets, rate limits and alerts wired into the gateway, seen through the official SDK.

Refusals are OpenAI-shaped 429s the SDK does not retry: with its default ``max_retries=2``
exactly one request reaches the gateway per refused call (one recorded row each).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from collector.alerts import add_rule, parse_channel
from collector.budgets import (
    BudgetSpec,
    Mode,
    budget_statuses,
    catalog_prices,
    create_budget,
    parse_period,
    parse_scope,
    parse_timezone,
    worst_case_cost,
)
from collector.cli import app
from collector.db import session_scope
from collector.db.models import BudgetCounter
from collector.keys import create_key
from collector.settings import Settings, get_settings
from collector.tokens import count_chat_prompt_tokens
from tests.gateway._support import Gateway, GatewayFactory

MODEL = "gpt-4o-mini"
MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "How much will this cost?"}
]
MAX_TOKENS = 20
# The mock answers exactly MAX_TOKENS output tokens, so each request costs its worst case.
EXACT = {"x-mock-output-tokens": str(MAX_TOKENS)}
UTC_TZ = parse_timezone("UTC")


def worst_case() -> Decimal:
    """What the gateway reserves for one request: catalog price × (prompt, max_tokens)."""
    prices = catalog_prices(MODEL, datetime.now(UTC))
    assert prices is not None
    return worst_case_cost(prices, count_chat_prompt_tokens(MESSAGES, MODEL), MAX_TOKENS)


def key(engine: Engine, *, rpm: int | None = None, tpm: int | None = None) -> str:
    with session_scope(engine) as session:
        created = create_key(
            session, project="acme", user=None, tags={}, rpm=rpm, tpm=tpm, name=None,
            now=datetime.now(UTC),
        )  # fmt: skip
    return created.raw_key


def hard_budget(engine: Engine, amount: Decimal, scope: str = "project:acme") -> BudgetSpec:
    spec = BudgetSpec("acme-day", parse_scope(scope), parse_period("day"), amount, Mode.HARD)
    return create_budget(engine, spec, datetime.now(UTC))


def settled(gw: Gateway) -> None:
    """Every request recorded, and every queued settle booked."""
    gw.server.flush()
    assert gw.server.run(gw.server.runtime.admitter.ledger.flush(10))


def ask(client: openai.OpenAI) -> Any:
    return client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, extra_headers=EXACT
    )


def test_budget_refusal_is_blocked_once_and_the_counters_match_the_rows(
    gateway_on: GatewayFactory,
) -> None:
    gw = gateway_on()
    worst = worst_case()
    hard_budget(gw.engine, worst * 2 + worst / 2)  # affords exactly two requests
    client = openai.OpenAI(base_url=gw.base_url, api_key=key(gw.engine))  # max_retries=2
    served = [ask(client) for _ in range(2)]
    assert [Decimal(r.headers["x-spendscope-cost-usd"]) for r in served] == [worst, worst]
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client)
    err = caught.value
    assert err.code == "insufficient_quota" and err.type == "insufficient_quota"
    assert err.response.headers["x-should-retry"] == "false"
    assert (
        "Budget 'acme-day'" in err.message and "x-spendscope-budget-reset" in err.response.headers
    )
    settled(gw)
    rows = gw.requests()
    assert len(rows) == 3  # one request per call: the SDK did not retry the refusal
    assert [r.outcome for r in rows] == ["success", "success", "blocked"]
    blocked = rows[2]
    assert (blocked.http_status, blocked.error_type, blocked.attempt_count) == (
        429,
        "insufficient_quota",
        0,
    )
    assert blocked.cost_usd == Decimal(0)
    [status] = budget_statuses(gw.engine, datetime.now(UTC), UTC_TZ)
    recorded = sum((r.cost_usd or Decimal(0) for r in rows), Decimal(0))
    assert (
        (status.spent_usd, status.reserved_usd) == (recorded, Decimal(0)) == (worst * 2, Decimal(0))
    )
    assert status.remaining_usd == worst / 2


def test_budgets_list_shows_what_admission_sees(make_gateway: GatewayFactory) -> None:
    gw = make_gateway()
    worst = worst_case()
    hard_budget(gw.engine, worst * 3)
    client = openai.OpenAI(base_url=gw.base_url, api_key=key(gw.engine))
    ask(client)
    settled(gw)
    env = {"SPENDSCOPE_DATABASE_URL": str(gw.engine.url)}
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["budgets", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    spent, reserved = Decimal(row["spent_usd"]), Decimal(row["reserved_usd"])
    assert (spent, reserved, Decimal(row["remaining_usd"])) == (worst, Decimal(0), worst * 2)
    with gw.engine.connect() as conn:  # the counter admission reserves against says the same
        assert conn.execute(select(BudgetCounter.spent_usd)).scalar_one() == spent
    ask(client)
    ask(client)  # exactly the remaining two fit...
    with pytest.raises(openai.RateLimitError):
        ask(client)  # ...and no more


def test_rate_limit_refusal_is_blocked_once_with_retry_after(make_gateway: GatewayFactory) -> None:
    gw = make_gateway()
    client = openai.OpenAI(base_url=gw.base_url, api_key=key(gw.engine, rpm=2))
    ask(client)
    ask(client)
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client)
    err = caught.value
    assert err.code == "rate_limit_exceeded"
    assert err.response.headers["x-should-retry"] == "false"
    assert int(err.response.headers["retry-after"]) >= 1
    rows = gw.requests()
    assert [r.outcome for r in rows] == ["success", "success", "blocked"]
    assert (rows[2].http_status, rows[2].error_type) == (429, "rate_limit_exceeded")


def test_completion_tokens_reach_the_tpm_limit(make_gateway: GatewayFactory) -> None:
    gw = make_gateway()
    prompt = count_chat_prompt_tokens(MESSAGES, MODEL)
    # Without max_tokens admission charges the prompt only; the 30 completion tokens are
    # charged at settle. Then a second prompt no longer fits: prompt + 30 + prompt > limit.
    client = openai.OpenAI(base_url=gw.base_url, api_key=key(gw.engine, tpm=2 * prompt + 29))
    reply = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, extra_headers={"x-mock-output-tokens": "30"}
    )
    assert reply.usage is not None and reply.usage.completion_tokens == 30
    gw.server.flush()  # the request (and with it its settle) is done
    with pytest.raises(openai.RateLimitError, match="tokens per minute of key"):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert [r.outcome for r in gw.requests()] == ["success", "blocked"]


def test_no_limits_means_no_admission_work(make_gateway: GatewayFactory) -> None:
    gw = make_gateway()
    soft = BudgetSpec("soft", parse_scope("global"), parse_period("day"), Decimal(1), Mode.SOFT)
    create_budget(gw.engine, soft, datetime.now(UTC))
    client = openai.OpenAI(base_url=gw.base_url, api_key=key(gw.engine))
    for _ in range(3):
        ask(client)
    settled(gw)
    assert gw.server.runtime.admitter.ledger.batches == 0
    with gw.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(BudgetCounter)).scalar() == 0
    assert [r.outcome for r in gw.requests()] == ["success"] * 3


def test_crossing_a_threshold_wakes_the_alert_evaluator(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = make_gateway(alert_interval_s=3600)  # only the threshold trigger can evaluate again
    worst = worst_case()
    hard_budget(gw.engine, worst * 4)  # one request is 25 %, two are 50 %
    alerts = tmp_path / "alerts.jsonl"
    channel = parse_channel("file", str(alerts), Settings())
    add_rule(gw.engine, "spend", "budget_threshold", "global", {}, (channel,), datetime.now(UTC))
    client = openai.OpenAI(base_url=gw.base_url, api_key=key(gw.engine))
    ask(client)
    settled(gw)
    assert not alerts.exists() or alerts.read_text() == ""
    ask(client)
    settled(gw)
    gw.server.run(_until(lambda: alerts.exists() and alerts.read_text() != ""))
    [notice] = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert notice["event"] == "alert.fired" and "crossed 50%" in notice["message"]
    assert notice["details"]["threshold_pct"] == 50


async def _until(done: Any) -> None:
    for _ in itertools.count():
        if done():
            return
        await asyncio.sleep(0.02)
