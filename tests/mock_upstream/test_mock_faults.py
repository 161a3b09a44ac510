"""Scripted faults produce the SDK exceptions and behaviours a gateway must handle."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from collector.mock_upstream import (
    MockConfig,
    ScenarioError,
    load_scenario,
    run_in_thread,
)
from collector.mock_upstream._scenario import scenario_from_dict

Validate = Callable[[Any, str], None]
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def _fault(spec: str, scenario: str | None = None) -> dict[str, str]:
    headers = {"x-mock-fault": spec}
    if scenario is not None:
        headers["x-mock-scenario"] = scenario
    return headers


def _attempts(base_url: str, scenario: str) -> int:
    root = base_url.removesuffix("/v1")
    count: int = httpx.get(f"{root}/_mock/scenarios/{scenario}").json()["attempts"]
    return count


def test_429_raises_rate_limit_error_with_retry_headers(
    client: openai.OpenAI, openapi: Validate
) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, extra_headers=_fault("429@2.5")
        )
    response = caught.value.response
    assert response.headers["retry-after"] == "3"
    assert response.headers["retry-after-ms"] == "2500"
    assert caught.value.code == "rate_limit_exceeded"
    openapi(response.json(), "ErrorResponse")


def test_sdk_retries_through_a_fault_sequence(base_url: str, scenario: str) -> None:
    client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=3)
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=USER,
        extra_headers=_fault("429@0.01,500,503,ok", scenario),
    )
    assert completion.choices[0].message.content
    assert _attempts(base_url, scenario) == 4


def test_sequence_repeats_its_last_entry(
    client: openai.OpenAI, base_url: str, scenario: str
) -> None:
    headers = _fault("500,ok", scenario)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=USER, extra_headers=headers)
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o", messages=USER, extra_headers=headers)
    assert _attempts(base_url, scenario) == 3


@pytest.mark.parametrize("status", ["500", "502", "503"])
def test_server_errors(client: openai.OpenAI, status: str) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=USER, extra_headers=_fault(status))
    assert caught.value.status_code == int(status)
    if status == "502":
        assert caught.value.response.headers["content-type"].startswith("text/html")


def test_timeout_fault_trips_the_client_timeout(base_url: str) -> None:
    client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(
            model="gpt-4o", messages=USER, extra_headers=_fault("timeout@3")
        )


def test_timeout_fault_answers_after_the_stall(client: openai.OpenAI) -> None:
    started = time.monotonic()
    completion = client.chat.completions.create(
        model="gpt-4o", messages=USER, extra_headers=_fault("timeout@0.3")
    )
    assert completion.choices and time.monotonic() - started >= 0.3


def test_reset_is_a_connection_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="gpt-4o", messages=USER, extra_headers=_fault("reset"))


def test_cut_stream_ends_without_done_or_usage(client: openai.OpenAI) -> None:
    lines: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.chat.completions.with_streaming_response.create(
            model="gpt-4o",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers={**_fault("cut@4"), "x-mock-output-tokens": "40"},
        ) as response,
    ):
        lines.extend(response.iter_lines())
    data = [line for line in lines if line.startswith("data: ")]
    assert len(data) == 4
    assert not any("[DONE]" in line or '"usage":{' in line for line in data)


def test_cut_non_stream_is_a_connection_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="gpt-4o", messages=USER, extra_headers=_fault("cut"))


def test_malformed_body(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=USER, extra_headers=_fault("malformed")
    )
    assert raw.http_response.status_code == 200
    with pytest.raises(ValueError):
        raw.http_response.json()


def test_malformed_stream(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True, extra_headers=_fault("malformed")
    )
    with pytest.raises(ValueError):
        list(stream)


def test_bad_fault_header_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=USER, extra_headers=_fault("boom"))
    assert "unknown fault 'boom'" in caught.value.message


def test_missing_key_is_401(base_url: str, openapi: Validate) -> None:
    response = httpx.post(f"{base_url}/chat/completions", json={"model": "gpt-4o"})
    assert response.status_code == 401
    openapi(response.json(), "ErrorResponse")


def test_require_key_rejects_other_keys() -> None:
    with run_in_thread(MockConfig(require_key="sk-server-held")) as url:
        wrong = openai.OpenAI(base_url=url, api_key="sk-client-key", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            wrong.models.list()
        assert caught.value.code == "invalid_api_key"
        right = openai.OpenAI(base_url=url, api_key="sk-server-held", max_retries=0)
        assert right.models.list().data


def _statuses(config: MockConfig, count: int) -> list[int]:
    with run_in_thread(config) as url:
        client = openai.OpenAI(base_url=url, api_key="sk", max_retries=0)
        statuses = []
        for _ in range(count):
            try:
                client.chat.completions.create(model="gpt-4o-mini", messages=USER)
                statuses.append(200)
            except openai.APIStatusError as exc:
                statuses.append(exc.status_code)
        return statuses


def test_scenario_faults_are_seeded_and_reproducible() -> None:
    scenario = scenario_from_dict(
        {"rules": [{"model": "gpt-4o", "faults": {"500": 0.3, "429@0": 0.2}}]}
    )
    first = _statuses(MockConfig(scenario=scenario, seed=3), 40)
    again = _statuses(MockConfig(scenario=scenario, seed=3), 40)
    other = _statuses(MockConfig(scenario=scenario, seed=4), 40)
    assert first == again != other
    assert {200, 429, 500} <= set(first)


def test_scenario_rule_matching_by_path(base_url: str) -> None:
    scenario = scenario_from_dict({"rules": [{"path": "/v1/embeddings", "faults": {"503": 1}}]})
    assert _statuses(MockConfig(scenario=scenario), 3) == [200, 200, 200]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{faults: {explode: 0.1}}]", "unknown fault 'explode'"),
        ("rules: [{faults: {'500': 0.8, '429': 0.5}}]", "sum to more than 1"),
        ("rules: [{faults: {'500': 2}}]", "probability in [0, 1]"),
        ("rules: [{pth: /v1}]", "unknown keys: pth"),
        ("rules: {a: 1}", "'rules' must be a list"),
        ("rules: [unclosed", "not valid YAML/JSON"),
    ],
)
def test_bad_scenario_files_give_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_scenario_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "demo.json"
    path.write_text(
        '{"seed": 9, "rules": [{"model": "gpt-4o", "latency_ms": 5, "faults": {"cut": 0.1}}]}'
    )
    scenario = load_scenario(path)
    assert scenario.seed == 9 and scenario.rules[0].latency_ms == 5


def test_latency_and_pacing_headers_slow_the_stream(client: openai.OpenAI) -> None:
    # Lower bounds only: sleeps guarantee them, so the test cannot flake on a slow machine.
    started = time.monotonic()
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=USER,
        stream=True,
        extra_headers={
            "x-mock-latency-ms": "150",
            "x-mock-tokens-per-s": "100",
            "x-mock-output-tokens": "20",
        },
    )
    first = next(iter(stream))
    first_at = time.monotonic()
    rest = list(stream)
    assert first.choices[0].delta.role == "assistant"
    assert first_at - started >= 0.15
    # 20 tokens at 100/s after the latency, counted from the start: a busy client can take the
    # first chunk late, when part of the pacing has already passed
    assert time.monotonic() - started >= 0.15 + 0.19
    assert sum(1 for c in rest if c.choices and c.choices[0].delta.content) == 20
