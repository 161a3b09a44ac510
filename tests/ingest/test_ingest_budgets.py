"""Reported calls count against hard budgets as relayed ones do: booked on the budget's
counters (so later requests are held against them) and crossing a threshold alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy import Engine, func, select

from collector.alerts import add_rule, parse_channel
from collector.budgets import budget_statuses
from collector.db import session_scope
from collector.db.models import BudgetCounter
from collector.pricing import compute_cost
from collector.settings import Settings
from collector.usage import Usage
from tests.gateway._support import GatewayFactory
from tests.gateway.test_admission_gateway import (
    UTC_TZ,
    _until,
    ask,
    hard_budget,
    key,
    settled,
    worst_case,
)
from tests.ingest.test_ingest_api import NOW, _event, _post
from tests.support.clock import clear_of_midnight, minute_ago


def _event_cost() -> Decimal:
    usage = Usage(prompt_tokens=1200, cached_tokens=1024, completion_tokens=300)
    cost = compute_cost(usage, "gpt-4o-mini", NOW).cost_usd
    assert cost is not None
    return cost


def _today() -> str:
    """A started_at a minute old on the daily budget's current day (a midnight near is waited
    out: a call reported for yesterday is not booked on today's counter)."""
    return minute_ago(clear_of_midnight()).isoformat()


def _reported(at: str, *event_ids: str) -> list[dict[str, Any]]:
    return [_event(event_id, started_at=at) for event_id in event_ids]


def test_reported_spend_is_booked_on_hard_budgets_and_alerts(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = make_gateway(alert_interval_s=3600, budget_cache_ttl_s=0.01)  # alerts: on trigger only
    at = _today()
    each = _event_cost()
    hard_budget(gw.engine, each * 4)  # two reported calls are 50 %
    alerts = tmp_path / "alerts.jsonl"
    channel = parse_channel("file", str(alerts), Settings())
    add_rule(gw.engine, "spend", "budget_threshold", "global", {}, (channel,), datetime.now(UTC))
    raw_key = key(gw.engine)
    answer = _post(gw, _reported(at, "a", "b"), raw_key)
    assert answer.status_code == 200 and answer.json()["accepted"] == 2
    settled(gw)
    [status] = budget_statuses(gw.engine, datetime.now(UTC), UTC_TZ)
    assert status.spent_usd == each * 2
    gw.server.run(_until(lambda: alerts.exists() and alerts.read_text() != ""))
    [notice] = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert notice["event"] == "alert.fired" and "crossed 50%" in notice["message"]


def test_reported_spend_holds_later_requests_against_the_limit(
    make_gateway: GatewayFactory,
) -> None:
    """The budget's counter exists before the calls are reported (a request opened it), so
    only booking them can make the next request not fit."""
    gw = make_gateway(budget_cache_ttl_s=0.01)
    at = _today()
    each, worst = _event_cost(), worst_case()
    hard_budget(gw.engine, worst * 2 + each * 3 - Decimal("0.0000001"))
    raw_key = key(gw.engine)
    client = openai.OpenAI(base_url=gw.base_url, api_key=raw_key, max_retries=0)
    ask(client)
    settled(gw)
    assert _post(gw, _reported(at, "a", "b", "c"), raw_key).status_code == 200
    settled(gw)
    [status] = budget_statuses(gw.engine, datetime.now(UTC), UTC_TZ)
    assert status.spent_usd == worst + each * 3
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client)
    assert caught.value.code == "insufficient_quota"


def test_a_replayed_ingest_call_books_nothing_again(make_gateway: GatewayFactory) -> None:
    """The same events again (a client's retry) are one row each and one booking each; a
    replay that brings a new event books only that one."""
    gw = make_gateway(budget_cache_ttl_s=0.01)
    at = _today()
    each = _event_cost()
    hard_budget(gw.engine, each * 100)
    raw_key = key(gw.engine)
    for events in (_reported(at, "a", "b"), _reported(at, "a", "b"), _reported(at, "a")):
        assert _post(gw, events, raw_key).status_code == 200
        settled(gw)
    assert _booked(gw.engine) == each * 2
    assert _post(gw, _reported(at, "b", "c"), raw_key).status_code == 200
    settled(gw)
    assert _booked(gw.engine) == each * 3
    [status] = budget_statuses(gw.engine, datetime.now(UTC), UTC_TZ)
    assert status.spent_usd == each * 3


def _booked(engine: Engine) -> Decimal:
    """What the hard budget's counters booked (not the recorded rows' sum)."""
    with session_scope(engine) as session:
        spent = session.scalar(select(func.sum(BudgetCounter.spent_usd)))
    return Decimal(spent or 0)
