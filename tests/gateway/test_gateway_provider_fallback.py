"""An OpenAI outage falls back to Claude, through the official SDK, and is priced as Claude.

Two real mock upstreams: the OpenAI one answers every ``gpt-4.1`` try with 503 (a scenario),
the other speaks Anthropic's OpenAI-compatible layer and holds its own upstream key. The
fallback chain ``gpt-4.1 → claude-sonnet-4-5`` ends there: the answer is Claude's, priced at
Claude's rate ($3 in / $15 out per 1M), the request and its last try say ``anthropic``, the
failed tries ``openai``, and the retry success rate counts the request as rescued.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from openai.types.chat import ChatCompletionMessageParam

from collector.analytics import Filters, reliability
from collector.errors import SettingsError
from collector.gateway import check_settings
from collector.mock_upstream import MockConfig, load_scenario, run_in_thread
from collector.requestlog import requests_by_id
from collector.settings import Settings
from collector.tokens import count_chat_prompt_tokens
from collector.usage import CostSource
from tests.gateway._support import UPSTREAM_KEY, GatewayFactory

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Where did we spend?"}]
CLAUDE_KEY = "sk-ant-held-by-the-gateway"
M = Decimal(1_000_000)


@pytest.fixture(scope="module")
def openai_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fake OpenAI whose gpt-4.1 answers 503 on every try."""
    path = tmp_path_factory.mktemp("outage") / "outage.json"
    path.write_text('{"rules": [{"model": "gpt-4.1", "faults": {"503": 1.0}}]}')
    outage = load_scenario(path)
    with run_in_thread(MockConfig(require_key=UPSTREAM_KEY, scenario=outage)) as url:
        yield url


@pytest.fixture(scope="module")
def anthropic_up() -> Iterator[str]:
    with run_in_thread(MockConfig(require_key=CLAUDE_KEY, provider="anthropic")) as url:
        yield url


def test_openai_down_falls_back_to_claude_priced_at_claudes_rate(
    gateway_on: GatewayFactory, openai_down: str, anthropic_up: str
) -> None:
    gw = gateway_on(
        upstream_base_url=openai_down,
        upstreams={"claude": anthropic_up},
        upstream_keys={"claude": CLAUDE_KEY},
        upstream_routes={"claude-*": "claude"},
        upstream_providers={"claude": "anthropic"},
        fallback_models={"gpt-4.1": ["claude-sonnet-4-5"]},
    )
    completion = gw.client().chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    assert completion.model == "claude-sonnet-4-5-20250929"
    usage = completion.usage
    assert usage is not None and usage.completion_tokens > 0

    row = gw.only_request()
    assert (row.outcome, row.provider, row.upstream) == ("success", "anthropic", "claude")
    assert row.prompt_tokens == count_chat_prompt_tokens(MESSAGES, "claude-sonnet-4-5-20250929")
    assert row.cost_source == CostSource.COMPUTED.value
    assert row.price_id == "claude-sonnet-4-5-20250929@2025-09-29"
    expected = (usage.prompt_tokens * Decimal(3) + usage.completion_tokens * Decimal(15)) / M
    assert row.cost_usd == expected

    attempts = gw.attempts(row.id)
    assert len(attempts) >= 2
    *failed, answered = attempts
    assert {(a.provider, a.model, a.http_status) for a in failed} == {("openai", "gpt-4.1", 503)}
    assert (answered.provider, answered.model, answered.http_status) == (
        "anthropic", "claude-sonnet-4-5", 200,
    )  # fmt: skip
    assert answered.cost_usd == expected
    logged = requests_by_id(gw.engine, [row.id])[0].to_json()  # what `spendscope logs` shows
    assert logged["provider"] == "anthropic"
    assert [t["provider"] for t in logged["attempts"]] == [a.provider for a in attempts]

    now = datetime.now(UTC)
    window = Filters(start=now - timedelta(days=1), end=now + timedelta(hours=1))
    figures = reliability(gw.engine, window, "day").set_index("project").loc["acme"]
    assert (figures["retried"], figures["rescued"]) == (1, 1)
    assert figures["retry_success_rate"] == 1.0
    assert figures["failed_attempt_cost_usd"] == Decimal(0)


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        ({"nowhere": "anthropic"}, "unknown upstream 'nowhere'"),
        ({"default": "azure"}, "unknown provider 'azure'"),
    ],
)
def test_a_bad_provider_setting_is_one_clear_error(providers: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=f"SPENDSCOPE_UPSTREAM_PROVIDERS.*{message}"):
        check_settings(Settings(upstream_providers=providers))
