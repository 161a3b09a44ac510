"""Row 12: a key revoked through the admin API is refused at once by that gateway, and by
other processes (the CLI revoked it, or another gateway did) within the key-cache TTL."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from typer.testing import CliRunner

from collector.cli import app
from tests.gateway._support import Gateway, GatewayFactory

ADMIN = "admin-token-0123456789"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _works(gw: Gateway, key: str) -> bool:
    try:
        gw.client(key).chat.completions.create(**CHAT)  # type: ignore[call-overload]
    except openai.AuthenticationError:
        return False
    return True


def test_revoking_through_the_api_is_immediate_in_that_gateway(
    gateway_on: GatewayFactory,
) -> None:
    gw = gateway_on(admin_token=ADMIN, key_cache_ttl_s=600)
    other = gateway_on(admin_token=ADMIN, key_cache_ttl_s=600)
    key = gw.key()
    assert _works(gw, key) and _works(other, key)  # both have it cached now
    root = gw.base_url.removesuffix("/v1")
    headers = {"authorization": f"Bearer {ADMIN}"}
    revoked = httpx.delete(f"{root}/api/keys/{key}", headers=headers, timeout=30)
    assert revoked.status_code == 200, revoked.text
    assert not _works(gw, key)
    assert _works(other, key)  # another process: only its cache TTL bounds it


def test_other_processes_refuse_within_the_cache_ttl(
    gateway_on: GatewayFactory, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ttl = 1.0
    gw = gateway_on(key_cache_ttl_s=ttl)
    key = gw.key()
    assert _works(gw, key)
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", migrated_url)
    result = CliRunner().invoke(app, ["keys", "revoke", key])
    assert result.exit_code == 0, result.output
    revoked_at = time.monotonic()
    while _works(gw, key):
        assert time.monotonic() - revoked_at <= ttl + 0.5, "still accepted past the TTL"
        time.sleep(0.1)
