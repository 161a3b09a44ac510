"""Row 10: neither upstream hosts nor any part of the server's key reach a client or a row."""

from __future__ import annotations

import logging
import socket

import openai
import pytest

from collector.secrets import mask_url, redact, redact_keys
from tests.gateway._support import GatewayFactory

WRONG_KEY = "sk-server-key-that-is-wrong-VALUE"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_refused_server_key_is_not_quoted_to_clients_or_rows(
    gateway_on: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    gw = gateway_on(upstream_api_key=WRONG_KEY)
    with pytest.raises(openai.APIStatusError) as caught:
        gw.client().chat.completions.create(**CHAT)  # type: ignore[call-overload]
    seen = caught.value.response.text
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_auth_failed"
    assert "ALUE" not in seen and "sk-" not in seen
    row = gw.only_request()
    stored = [row.error_message or "", *(a.error_message or "" for a in gw.attempts(row.id))]
    assert row.outcome == "upstream_error"
    assert all("ALUE" not in text and "sk-*" not in text for text in stored)
    assert "Incorrect API key provided" in (row.error_message or "")  # the cause stays
    logged = [r.getMessage() for r in caplog.records if "rejected the server's" in r.getMessage()]
    assert logged and all("ALUE" not in m for m in logged)


def test_an_unreachable_upstream_is_not_named_to_clients(
    gateway_on: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    port = _closed_port()
    gw = gateway_on(upstream_base_url=f"http://127.0.0.1:{port}/v1", max_attempts=1)
    caplog.set_level(logging.WARNING)
    with pytest.raises(openai.APIStatusError) as caught:
        gw.client().chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert caught.value.status_code == 502
    assert "127.0.0.1" not in caught.value.response.text
    assert str(port) not in caught.value.response.text
    row = gw.only_request()
    attempt = gw.attempts(row.id)[0]
    assert str(port) in (attempt.error_message or "")  # operators see the cause
    assert any(str(port) in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "Incorrect API key provided: sk-********ALUE.",
            "Incorrect API key provided: sk-[redacted].",
        ),
        ("key sk-proj-abc_DEF-123 was", "key sk-[redacted] was"),
        ("no keys here - none", "no keys here - none"),
        ("dsn postgresql://u:pw@h/db down", "dsn postgresql://u:********@h/db down"),
    ],
)
def test_redaction(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_url_masking_keeps_everything_but_the_password() -> None:
    assert mask_url("redis://:pw@h:6379/0") == "redis://:********@h:6379/0"
    assert mask_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert redact_keys("task-force") == "task-force"
