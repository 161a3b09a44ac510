"""The client's W3C ``traceparent`` header lands in the row's metadata for the OTel exporter."""

from __future__ import annotations

import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.gateway._support import Gateway

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _send(gateway: Gateway, headers: dict[str, str]) -> dict[str, object]:
    gateway.client().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, extra_headers=headers
    )
    metadata: dict[str, object] = gateway.only_request().metadata_
    return metadata


def test_valid_traceparent_is_kept_in_metadata(gateway: Gateway) -> None:
    metadata = _send(gateway, {"traceparent": VALID, "x-spendscope-metadata": '{"job": "nightly"}'})
    assert metadata == {"job": "nightly", "traceparent": VALID}


def test_metadata_set_by_the_client_wins_over_the_header(gateway: Gateway) -> None:
    own = "00-11111111111111111111111111111111-2222222222222222-00"
    metadata = _send(
        gateway, {"traceparent": VALID, "x-spendscope-metadata": f'{{"traceparent": "{own}"}}'}
    )
    assert metadata == {"traceparent": own}


@pytest.mark.parametrize(
    "bad",
    [
        VALID[:-1],  # 54 chars
        VALID + "0",  # 56 chars
        VALID.upper(),  # the spec allows lowercase hex only
        "ff" + VALID[2:],  # version ff is invalid
        "00-" + "0" * 32 + VALID[35:],  # all-zero trace id
        VALID[:36] + "0" * 16 + "-01",  # all-zero span id
        VALID.replace("-", "_"),
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  # not hex
    ],
)
def test_malformed_traceparent_is_ignored_not_refused(gateway: Gateway, bad: str) -> None:
    assert _send(gateway, {"traceparent": bad}) == {}
