"""Bad input and bad keys: OpenAI-shaped 4xx the SDK will not retry, each recorded."""

from __future__ import annotations

from decimal import Decimal

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from tests.gateway._support import Gateway, GatewayFactory

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def _refused_row(gw: Gateway, status: int) -> None:
    row = gw.only_request()
    assert (row.outcome, row.http_status, row.attempt_count) == ("client_error", status, 0)
    assert row.cost_source == "computed" and row.cost_usd == Decimal(0)
    assert gw.attempts(row.id) == []


def test_non_json_body(gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().post(
            "/chat/completions",
            cast_to=ChatCompletion,
            content=b"{not json",
            options={"headers": {"content-type": "application/json"}},
        )
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert "could not parse the JSON body" in caught.value.message
    _refused_row(gateway, 400)
    assert gateway.only_request().api_key_id is not None  # the key was fine


def test_missing_model(gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().post(
            "/chat/completions", cast_to=ChatCompletion, body={"messages": MESSAGES}
        )
    assert "must provide a model" in caught.value.message
    _refused_row(gateway, 400)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"messages": "hello"}, "messages"),
        ({"messages": MESSAGES, "model": 4}, "model"),
        ({"messages": MESSAGES, "stream": "yes"}, "stream"),
        ({"messages": MESSAGES, "stream_options": []}, "stream_options"),
        ({"messages": [1, 2]}, "messages[]"),
    ],
)
def test_wrong_types(gateway: Gateway, extra: dict[str, object], param: str) -> None:
    body = {"model": "gpt-4o-mini", **extra}
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().post("/chat/completions", cast_to=ChatCompletion, body=body)
    assert caught.value.param == param and caught.value.code == "invalid_type"
    assert caught.value.response.headers["x-should-retry"] == "false"
    _refused_row(gateway, 400)


def test_oversized_body(make_gateway: GatewayFactory) -> None:
    gw = make_gateway(max_body_bytes=2048)
    big: list[ChatCompletionMessageParam] = [{"role": "user", "content": "x" * 4096}]
    with pytest.raises(openai.APIStatusError) as caught:
        gw.client().chat.completions.create(model="gpt-4o-mini", messages=big)
    assert caught.value.status_code == 413 and caught.value.code == "request_too_large"
    assert caught.value.response.headers["x-should-retry"] == "false"
    _refused_row(gw, 413)


def test_unknown_key(gateway: Gateway) -> None:
    client = gateway.client("sk-ss-" + "0" * 40)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.code == "invalid_api_key"
    _refused_row(gateway, 401)
    row = gateway.only_request()
    assert row.api_key_id is None and row.project_id is None
    assert "sk-ss-" not in (row.error_message or "")


def test_revoked_key(gateway: Gateway) -> None:
    client = gateway.client(gateway.key(revoked=True))
    with pytest.raises(openai.AuthenticationError):
        client.embeddings.create(model="text-embedding-3-small", input="hello")
    _refused_row(gateway, 401)


def test_missing_key(gateway: Gateway) -> None:
    client = gateway.client(default_headers={"Authorization": ""})
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert "didn't provide an API key" in caught.value.message
    _refused_row(gateway, 401)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-spendscope-tags", "team"),
        ("x-spendscope-metadata", "[1, 2]"),
        ("x-spendscope-metadata", "{not json"),
    ],
)
def test_malformed_attribution_header(gateway: Gateway, header: str, value: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers={header: value}
        )
    assert caught.value.param == header
    _refused_row(gateway, 400)


def test_upstream_client_error_passes_through_unchanged(gateway: Gateway) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        gateway.client().chat.completions.create(model="no-such-model-xyz", messages=MESSAGES)
    assert caught.value.code == "model_not_found"
    row = gateway.only_request()
    assert (row.outcome, row.http_status, row.attempt_count) == ("client_error", 404, 1)
    assert row.error_type == "model_not_found" and row.cost_usd == Decimal(0)
