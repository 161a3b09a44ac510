"""The mock's "anthropic-compatible" mode, through the official SDK: Claude ids only, and
usage in the shape Anthropic's OpenAI compatibility layer returns (no details objects)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from collector.mock_upstream import MockConfig, run_in_thread
from collector.tokens import count_chat_prompt_tokens

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Summarise the spend."}]


@pytest.fixture(scope="module")
def claude() -> Iterator[openai.OpenAI]:
    with run_in_thread(MockConfig(seed=3, provider="anthropic")) as url:
        yield openai.OpenAI(base_url=url, api_key="sk-ant-test", max_retries=0, timeout=10)


def test_a_claude_alias_is_answered_by_its_snapshot_with_bare_usage(
    claude: openai.OpenAI, openapi: Callable[[Any, str], None]
) -> None:
    raw = claude.chat.completions.with_raw_response.create(model="claude-sonnet-4-5", messages=USER)
    body = raw.http_response.json()
    openapi(body, "CreateChatCompletionResponse")
    assert body["model"] == "claude-sonnet-4-5-20250929"
    assert set(body["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert "system_fingerprint" not in body and "service_tier" not in body
    usage = raw.parse().usage
    assert usage is not None
    assert usage.prompt_tokens == count_chat_prompt_tokens(USER, body["model"])
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0


def test_a_stream_ends_with_the_same_bare_usage(claude: openai.OpenAI) -> None:
    stream = claude.chat.completions.create(
        model="claude-haiku-4-5",
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens > 0
    assert usage.prompt_tokens_details is None and usage.completion_tokens_details is None
    assert {c.model for c in chunks} == {"claude-haiku-4-5-20251001"}


def test_an_openai_model_is_not_found(claude: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        claude.chat.completions.create(model="gpt-4.1", messages=USER)


def test_an_unknown_mode_is_refused_before_binding() -> None:
    with pytest.raises(ValueError, match="provider must be openai or anthropic"):
        MockConfig(provider="google-ish")
