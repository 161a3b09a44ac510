"""Delivering one notice to every channel of a rule, each isolated from the others.

A channel that fails (configuration no longer valid, e.g. SPENDSCOPE_SMTP_HOST unset; refused
connection, timeout, 5xx, SMTP error) yields a failed
:class:`Delivery`; it never raises into the evaluator nor delays the other channels more
than its own timeout. Slack and webhooks retry 429/5xx/network errors with exponential backoff.

Webhook signature: ``X-Spendscope-Timestamp: <unix seconds>`` and
``X-Spendscope-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>``.
The timestamp is signed so a captured request cannot be replayed later.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp

from collector.alerts._channels import check_channel
from collector.alerts._types import ChannelConfig
from collector.settings import Settings

_FILE_LOCK = threading.Lock()
_RETRY_STATUSES = {408, 429, 500, 502, 503, 504}


@dataclass(frozen=True, slots=True)
class Notice:
    """What is sent: a one-line text plus a JSON body for machines."""

    text: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Delivery:
    ok: bool
    attempts: int
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "attempts": self.attempts, "detail": self.detail}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


async def _post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], s: Settings
) -> Delivery:
    timeout = aiohttp.ClientTimeout(total=s.alert_http_timeout_s)
    detail = ""
    for attempt in range(1, s.alert_http_retries + 2):
        try:
            async with http.post(url, data=body, headers=headers, timeout=timeout) as resp:
                await resp.read()
                if resp.status < 300:
                    return Delivery(True, attempt, f"HTTP {resp.status}")
                detail = f"HTTP {resp.status}"
                if resp.status not in _RETRY_STATUSES:
                    return Delivery(False, attempt, detail)
        except (aiohttp.ClientError, TimeoutError) as exc:
            detail = f"{exc.__class__.__name__}: {exc}"[:300]
        if attempt <= s.alert_http_retries:
            await asyncio.sleep(s.alert_http_backoff_ms / 1000 * 2 ** (attempt - 1))
    return Delivery(False, s.alert_http_retries + 1, detail)


async def _slack(http: aiohttp.ClientSession, c: ChannelConfig, n: Notice, s: Settings) -> Delivery:
    body = json.dumps({"text": n.text}).encode()
    return await _post(http, c.target, body, {"Content-Type": "application/json"}, s)


async def _webhook(
    http: aiohttp.ClientSession, c: ChannelConfig, n: Notice, s: Settings
) -> Delivery:
    body = json.dumps(n.body, sort_keys=True, default=str).encode()
    headers = {"Content-Type": "application/json"}
    if s.alert_webhook_secret:
        timestamp = str(int(time.time()))
        headers["X-Spendscope-Timestamp"] = timestamp
        headers["X-Spendscope-Signature"] = sign(s.alert_webhook_secret, timestamp, body)
    return await _post(http, c.target, body, headers, s)


def _send_mail(c: ChannelConfig, n: Notice, s: Settings) -> Delivery:
    msg = EmailMessage()
    msg["Subject"] = "[spendscope] " + n.text.split("\n", 1)[0][:150]
    msg["From"] = s.smtp_from
    msg["To"] = c.target
    msg.set_content(n.text + "\n\n" + json.dumps(n.body, indent=2, sort_keys=True, default=str))
    assert s.smtp_host is not None  # noqa: S101 - type narrowing: email channels exist only with smtp_host set
    with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s) as smtp:
        if s.smtp_starttls:
            smtp.starttls()
        if s.smtp_username:
            smtp.login(s.smtp_username, s.smtp_password or "")
        refused = smtp.send_message(msg)
    if refused:
        return Delivery(False, 1, f"refused recipients: {', '.join(refused)}")
    return Delivery(True, 1, "sent")


def _append_file(c: ChannelConfig, n: Notice) -> Delivery:
    line = json.dumps(n.body, sort_keys=True, default=str) + "\n"
    path = Path(c.target)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _FILE_LOCK, path.open("a", encoding="utf-8") as fh:
        fh.write(line)
    return Delivery(True, 1, "appended")


async def _one(http: aiohttp.ClientSession, c: ChannelConfig, n: Notice, s: Settings) -> Delivery:
    try:
        check_channel(c, s)
        if c.kind == "slack":
            return await _slack(http, c, n, s)
        if c.kind == "webhook":
            return await _webhook(http, c, n, s)
        if c.kind == "email":
            return await asyncio.to_thread(_send_mail, c, n, s)
        return await asyncio.to_thread(_append_file, c, n)
    except Exception as exc:  # one channel's failure is data, not a crash
        return Delivery(False, 1, f"{exc.__class__.__name__}: {exc}"[:300])


async def deliver_all(
    http: aiohttp.ClientSession, channels: Sequence[ChannelConfig], notice: Notice, s: Settings
) -> dict[str, Delivery]:
    """Send to every channel concurrently; one result per channel label."""
    results = await asyncio.gather(*(_one(http, c, notice, s) for c in channels))
    return {c.label: r for c, r in zip(channels, results, strict=True)}
