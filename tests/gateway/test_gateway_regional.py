"""Regional-processing upstreams: priced with the model's uplift, now and when repriced.

The gateway knows which named upstream served a request; the upstreams listed in
``regional_upstreams`` are data-residency endpoints, whose requests cost 10 % more for
gpt-5.4 and later. Nothing new is stored: repricing derives it from the row's ``upstream``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from openai.types.chat import ChatCompletionMessageParam

from collector.errors import SettingsError
from collector.pricing import reprice as rp
from collector.usage import CostSource
from tests.gateway._support import GatewayFactory

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello from the EU"}]
M = Decimal(1_000_000)


def _list_price(prompt: int, completion: int, cached: int) -> Decimal:
    """gpt-5.4 at $2.50 / cached $0.25 / $15 per 1M tokens."""
    per_million = (prompt - cached) * Decimal("2.50") + cached * Decimal("0.25")
    return (per_million + completion * Decimal(15)) / M


def test_regional_upstream_adds_the_uplift_and_reprice_keeps_it(
    gateway_on: GatewayFactory, mock_base_url: str
) -> None:
    gw = gateway_on(
        upstreams={"eu": mock_base_url},
        upstream_routes={"gpt-5.4*": "eu"},
        regional_upstreams=["eu"],
    )
    client = gw.client()
    client.chat.completions.create(model="gpt-5.4", messages=MESSAGES)
    client.chat.completions.create(model="gpt-5.2", messages=MESSAGES)
    by_model = {r.model_requested: r for r in gw.requests()}
    eu, default = by_model["gpt-5.4"], by_model["gpt-5.2"]
    assert (eu.upstream, default.upstream) == ("eu", "default")
    assert eu.cost_source == CostSource.COMPUTED.value
    base = _list_price(eu.prompt_tokens, eu.completion_tokens, eu.cached_tokens)
    assert eu.prompt_tokens > 0 and eu.cost_usd == base * Decimal("1.1")

    window = rp.RepriceWindow(
        eu.started_at - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1), "gpt-5.4"
    )
    now = datetime.now(UTC)
    # Without the setting the same row is priced at list price ...
    rp.reprice(gw.engine, window, now=now, regional_upstreams=())
    assert gw.request(eu.id).cost_usd == base
    # ... and with it, the uplift comes back, derived from the stored upstream name.
    summary = rp.reprice(gw.engine, window, now=now, regional_upstreams=["eu"])
    assert summary.changed == 1
    assert gw.request(eu.id).cost_usd == base * Decimal("1.1")


def test_unknown_regional_upstream_is_a_settings_error(make_gateway: GatewayFactory) -> None:
    with pytest.raises(SettingsError, match=r"SPENDSCOPE_REGIONAL_UPSTREAMS.*'us'"):
        make_gateway(regional_upstreams=["us"])
