"""Hypothesis fuzz of ``/v1`` bodies and attribution headers, through the gateway.

The official SDK sends what Hypothesis draws (any JSON, or chat/embeddings/responses bodies
with odd field values) with random ``x-spendscope-*`` headers to a real gateway over the
project's mock upstream, recording into SQLite and PostgreSQL. Every answer must be below
500 and, when it is an error, in OpenAI's error shape. Bounded: a fixed number of examples,
derandomized, well under 60 s per backend.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway._support import Gateway, GatewayFactory

ERROR_KEYS = {"message", "type", "param", "code"}
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(
    str.strip
)
models = st.sampled_from(["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]) | st.text(max_size=20)
messages = (
    st.lists(
        st.fixed_dictionaries(
            {
                "role": st.sampled_from(["user", "system", "assistant", "tool"])
                | st.text(max_size=5)
            },
            optional={"content": json_values, "name": json_values},
        ),
        max_size=3,
    )
    | json_values
)
chat_bodies = st.fixed_dictionaries(
    {"model": models | json_values, "messages": messages},
    optional={
        "stream": st.booleans() | json_values,
        "stream_options": st.fixed_dictionaries({}, optional={"include_usage": json_values})
        | json_values,
        "user": st.text(max_size=30) | json_values,
        "max_tokens": st.integers(min_value=-5, max_value=10**20) | json_values,
        "n": st.integers(min_value=-1, max_value=3),
    },
)
embedding_bodies = st.fixed_dictionaries(
    {"model": models | json_values, "input": st.text(max_size=40) | json_values}
)
responses_bodies = st.fixed_dictionaries(
    {"model": models | json_values, "input": st.text(max_size=40) | json_values},
    optional={"stream": st.booleans()},
)
requests = st.one_of(
    st.tuples(st.just("/chat/completions"), chat_bodies),
    st.tuples(st.just("/embeddings"), embedding_bodies),
    st.tuples(st.just("/responses"), responses_bodies),
    st.tuples(st.sampled_from(["/chat/completions", "/embeddings", "/moderations"]), json_values),
)
attribution = st.fixed_dictionaries(
    {},
    optional={
        "x-spendscope-user": header_text,
        "x-spendscope-tags": header_text,
        "x-spendscope-metadata": header_text,
    },
)


@pytest.fixture
def fuzz_gateway(gateway_on: GatewayFactory) -> Gateway:
    """One gateway per backend (SQLite, and PostgreSQL when configured) for all examples."""
    return gateway_on()


def _send(client: openai.OpenAI, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    try:
        return client.post(path, body=body, cast_to=httpx.Response, options={"headers": headers})
    except openai.APIStatusError as exc:
        return exc.response


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests, headers=attribution)
def test_v1_answers_are_never_5xx_and_errors_are_openai_shaped(
    fuzz_gateway: Gateway, request: tuple[str, Any], headers: dict[str, str]
) -> None:
    path, body = request
    client = _client(fuzz_gateway)
    response = _send(client, path, body, headers)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) >= ERROR_KEYS, error
        assert isinstance(error["message"], str) and error["message"]


_CLIENTS: dict[str, openai.OpenAI] = {}


def _client(gateway: Gateway) -> openai.OpenAI:
    """One key and client per gateway (each Hypothesis example reuses them)."""
    client = _CLIENTS.get(gateway.base_url)
    if client is None:
        client = _CLIENTS[gateway.base_url] = gateway.client(timeout=30)
    return client
