"""A hard budget far from its limit admits text requests without counting their prompt.

Counting loads a tokenizer (o200k_base costs a process tens of MB for good); the gateway holds
such requests on the prompt's byte bound from a lease and counts exactly only near the limit
or for images. (The mock upstream runs in this process and counts tokens itself, so the
test watches the gateway's counter, not the encodings loaded.)
"""

from __future__ import annotations

from decimal import Decimal

import openai
import pytest
from openai.types.chat import ChatCompletionContentPartParam

from collector.gateway import _estimate, _exchange
from collector.gateway._intake import Call
from tests.gateway._support import GatewayFactory
from tests.gateway.test_admission_gateway import MAX_TOKENS, MESSAGES, MODEL, hard_budget, key

IMAGE: list[ChatCompletionContentPartParam] = [
    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
]


def test_text_requests_under_a_hard_budget_load_no_encoding(
    make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[str | None] = []

    def estimate_prompt(call: Call) -> int:
        counted.append(call.model)
        return real(call)

    real = _estimate.estimate_prompt
    monkeypatch.setattr(_exchange, "estimate_prompt", estimate_prompt)
    gw = make_gateway()
    hard_budget(gw.engine, Decimal("1000"))
    client = openai.OpenAI(base_url=gw.base_url, api_key=key(gw.engine))
    for _ in range(3):
        client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
    client.embeddings.create(model="text-embedding-3-small", input="no tokenizer for this")
    assert counted == []
    # an image's tokens are not bounded by its bytes: that prompt is counted
    client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": IMAGE}],
        max_tokens=MAX_TOKENS,
    )
    assert counted == [MODEL]
