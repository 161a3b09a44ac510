"""Channels: bad configuration fails at configuration time; delivery against real servers."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from collector.alerts import AlertConfigError, Notice, deliver_all, parse_channel
from collector.settings import Settings, load_settings
from tests.alerts.conftest import Receiver, free_port

NOTICE = Notice("Budget 'x' crossed 80%", {"event": "alert.fired", "message": "Budget 'x'"})
SECRET = "s3cret"


def settings(**kw: Any) -> Settings:
    base: dict[str, Any] = {"alert_webhook_secret": SECRET, "alert_http_backoff_ms": 1,
                            "alert_http_timeout_s": 2, "smtp_host": "127.0.0.1"}  # fmt: skip
    base.update(kw)
    return load_settings(**base)


@pytest.mark.parametrize(
    ("kind", "target", "needle"),
    [
        ("webhook", "not a url", "expected http"),
        ("webhook", "ftp://example.com/x", "expected http"),
        ("slack", "http://host:99999/x", "bad webhook URL"),
        ("slack", "https:///nohost", "expected http"),
        ("email", "ops@", "bad email address"),
        ("email", "ops@example.com,not-an-address", "bad email address"),
        ("pager", "x", "unknown channel"),
    ],
)
def test_bad_channel_config_is_refused(kind: str, target: str, needle: str) -> None:
    with pytest.raises(AlertConfigError, match=needle):
        parse_channel(kind, target, settings())


def test_email_needs_a_valid_smtp_host() -> None:
    with pytest.raises(AlertConfigError, match="SPENDSCOPE_SMTP_HOST"):
        parse_channel("email", "ops@example.com", settings(smtp_host=None))
    with pytest.raises(AlertConfigError, match="bad SPENDSCOPE_SMTP_HOST"):
        parse_channel("email", "ops@example.com", settings(smtp_host="bad host!"))
    with pytest.raises(Exception, match="SPENDSCOPE_SMTP_PORT"):
        settings(smtp_port=70000)
    ok = parse_channel("email", "a@example.com, b@example.org", settings())
    assert ok.target == "a@example.com,b@example.org"


def verify(headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does: recompute the HMAC over '<timestamp>.<raw body>'."""
    ts = headers["X-Spendscope-Timestamp"]
    expected = hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(ts)) < 300
    return fresh and hmac.compare_digest(headers["X-Spendscope-Signature"], "sha256=" + expected)


async def test_webhook_is_signed_and_slack_gets_text(receiver: Receiver) -> None:
    channels = [parse_channel("webhook", f"{receiver.base}/hook", settings()),
                parse_channel("slack", f"{receiver.base}/slack", settings())]  # fmt: skip
    async with aiohttp.ClientSession() as http:
        results = await deliver_all(http, channels, NOTICE, settings())
    assert all(r.ok for r in results.values())
    [hook] = receiver.on("/hook")
    assert verify(hook.headers, hook.body)
    assert json.loads(hook.body) == dict(NOTICE.body)
    assert not verify({**hook.headers, "X-Spendscope-Timestamp": "1"}, hook.body)
    [slack] = receiver.on("/slack")
    assert json.loads(slack.body) == {"text": NOTICE.text}


async def test_webhook_retries_5xx_with_backoff(receiver: Receiver) -> None:
    receiver.fail_first["/flaky"] = 2
    channel = parse_channel("webhook", f"{receiver.base}/flaky", settings())
    async with aiohttp.ClientSession() as http:
        [result] = (await deliver_all(http, [channel], NOTICE, settings())).values()
    assert result.ok and result.attempts == 3
    receiver.fail_first["/down"] = 10
    down = parse_channel("webhook", f"{receiver.base}/down", settings())
    async with aiohttp.ClientSession() as http:
        [failed] = (
            await deliver_all(http, [down], NOTICE, settings(alert_http_retries=1))
        ).values()
    assert not failed.ok and failed.attempts == 2 and failed.detail == "HTTP 500"


async def test_failing_channels_do_not_block_the_others(
    receiver: Receiver, smtp: tuple[int, Any], tmp_path: Path
) -> None:
    port, inbox = smtp
    s = settings(smtp_port=port)
    no_smtp = settings(smtp_port=free_port())  # nothing listens there
    dead = f"http://127.0.0.1:{free_port()}/nobody-listens"
    channels = [
        parse_channel("webhook", dead, s),
        parse_channel("email", "ops@example.com", s),
        parse_channel("slack", f"{receiver.base}/slack", s),
        parse_channel("file", str(tmp_path / "alerts.jsonl"), s),
    ]
    async with aiohttp.ClientSession() as http:
        results = await deliver_all(http, channels, NOTICE, no_smtp)
    assert [r.ok for r in results.values()] == [False, False, True, True]
    assert "Connect" in results[channels[0].label].detail
    assert "ConnectionRefusedError" in results[channels[1].label].detail
    assert len(receiver.on("/slack")) == 1
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == [dict(NOTICE.body)]
    # the email channel pointing at the right port works
    email = parse_channel("email", "ops@example.com", s)
    async with aiohttp.ClientSession() as http:
        [sent] = (await deliver_all(http, [email], NOTICE, s)).values()
    assert sent.ok
    [msg] = inbox.messages
    assert msg.rcpt_tos == ["ops@example.com"]
    assert b"Subject: [spendscope] Budget 'x' crossed 80%" in msg.content
