"""Retries on timeouts, resets and cut bodies, and streams retried before their first byte."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.gateway._support import Gateway, GatewayFactory, scenario

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def _scenario_attempts(gw: Gateway, mock_base_url: str, headers: dict[str, str]) -> int:
    url = mock_base_url.removesuffix("/v1") + f"/_mock/scenarios/{headers['x-mock-scenario']}"
    return int(httpx.get(url).json()["attempts"])


def test_timeouts_exhausted_answer_504_and_record_timeout(
    make_gateway: GatewayFactory, mock_base_url: str
) -> None:
    gw = make_gateway(max_attempts=2, read_timeout_s=0.5)
    headers = {**scenario(), "x-mock-fault": "timeout@3"}
    with pytest.raises(openai.InternalServerError) as caught:
        gw.client().chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers=headers
        )
    assert caught.value.status_code == 504 and caught.value.code == "upstream_timeout"
    row = gw.only_request()
    assert (row.outcome, row.http_status, row.attempt_count) == ("timeout", 504, 2)
    assert [a.error_type for a in gw.attempts(row.id)] == ["timeout", "timeout"]
    assert _scenario_attempts(gw, mock_base_url, headers) == 2


@pytest.mark.parametrize("fault", ["reset", "cut", "502", "timeout@3"])
def test_transient_failures_are_retried(make_gateway: GatewayFactory, fault: str) -> None:
    gw = make_gateway(read_timeout_s=0.5)
    completion = gw.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        extra_headers={**scenario(), "x-mock-fault": f"{fault},ok"},
    )
    assert completion.choices[0].message.content
    row = gw.only_request()
    served = fault in ("cut", "timeout@3")  # the upstream may have billed the first try
    assert (row.outcome, row.attempt_count) == ("success", 2)
    assert row.cost_source == ("estimated" if served else "computed")
    first, second = gw.attempts(row.id)
    assert first.error_type is not None and second.http_status == 200


def test_stream_is_retried_before_its_first_byte(gateway: Gateway) -> None:
    chunks = list(
        gateway.client().chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            extra_headers={**scenario(), "x-mock-fault": "429@0.01,503,ok"},
        )
    )
    assert chunks
    row = gateway.only_request()
    assert (row.outcome, row.attempt_count, row.stream) == ("success", 3, True)
    assert [a.http_status for a in gateway.attempts(row.id)] == [429, 503, 200]


def test_429_after_retries_is_an_upstream_error(make_gateway: GatewayFactory) -> None:
    gw = make_gateway(max_attempts=2)
    with pytest.raises(openai.RateLimitError):
        gw.client().chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            extra_headers={**scenario(), "x-mock-fault": "429@0.01"},
        )
    row = gw.only_request()
    assert (row.outcome, row.http_status, row.attempt_count) == ("upstream_error", 429, 2)
