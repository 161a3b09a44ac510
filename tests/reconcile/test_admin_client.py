"""The admin API client against the mock: every page, retries on 429/500 honouring
Retry-After, and amounts parsed exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from typer.testing import CliRunner

from collector.cli import app
from collector.mock_upstream import MockConfig, run_in_thread
from collector.reconcile import USAGE_ENDPOINTS, AdminClient, fetch_bill
from collector.settings import get_settings
from tests.gateway._support import UPSTREAM_KEY
from tests.reconcile.conftest import ADMIN_KEY, GATEWAY_KEY_ID


def _serve_one(url: str) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
    auth = {"authorization": f"Bearer {UPSTREAM_KEY}"}
    httpx.post(f"{url}/chat/completions", json=body, headers=auth, timeout=30).raise_for_status()


def test_every_page_is_read_and_retries_honour_retry_after() -> None:
    config = MockConfig(admin_key=ADMIN_KEY, admin_faults=("429", "500"), retry_after_s=0.25)
    sleeps: list[float] = []
    with run_in_thread(config) as url:
        _serve_one(url)
        today = datetime.now(UTC).date()
        with AdminClient(url, ADMIN_KEY, page_days=7, sleep=sleeps.append) as client:
            items = fetch_bill(client, today - timedelta(days=9), today)
            tries = client.tries
    pages = 2 * (1 + len(USAGE_ENDPOINTS))  # ten days at seven a page, costs + usage
    assert tries == pages + 2
    assert sleeps[0] == 0.25  # the 429's Retry-After
    assert 0 <= sleeps[1] <= 1.0  # the 500 (second try): backoff 0.5 s × 2, full jitter
    costs = [i for i in items if i.source == "costs"]
    assert costs and {i.day for i in costs} == {today}  # found on the second page
    assert {i.api_key_id for i in items} == {GATEWAY_KEY_ID}
    assert all(isinstance(i.billed_usd, Decimal) and i.billed_usd > 0 for i in costs)
    assert {i.line_item for i in costs} >= {"gpt-4o-mini-2024-07-18, input"}
    [usage] = [i for i in items if i.source == "completions"]
    assert usage.requests == 1 and usage.input_tokens > 0 and usage.model.startswith("gpt-4o")


def test_retries_end_after_the_last_attempt() -> None:
    config = MockConfig(admin_key=ADMIN_KEY, admin_faults=("503",) * 3)
    with run_in_thread(config) as url:
        client = AdminClient(url, ADMIN_KEY, max_attempts=3, sleep=lambda s: None)
        try:
            fetch_bill(client, datetime.now(UTC).date(), datetime.now(UTC).date())
        except Exception as exc:
            assert "HTTP 503" in str(exc) and client.tries == 3
        else:
            raise AssertionError("a persistent 503 must fail the fetch")
        finally:
            client.close()


def test_the_admin_key_is_masked_in_config_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDSCOPE_OPENAI_ADMIN_KEY", ADMIN_KEY)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["config", "show", "--json"])
        shown = json.loads(result.stdout)
        assert get_settings().openai_admin_key is not None
        assert ADMIN_KEY not in repr(get_settings())
    finally:
        get_settings.cache_clear()
    assert shown["SPENDSCOPE_OPENAI_ADMIN_KEY"] == "********"
    assert ADMIN_KEY not in result.stdout
