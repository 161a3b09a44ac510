"""A background response whose end can no longer be read — deleted upstream or expired (404 on
every read), or deleted through the gateway — is given up after a bounded run of 404s (at
once when the gateway relayed the DELETE): one ``unpriced`` row with a note saying why, seen
by the unpriced alert and the dashboard's unpriced figure, and one warning; never $0, never
read forever."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from collector.alerts import AlertEvaluator, add_rule, parse_channel
from collector.analytics import Filters, overview
from collector.gateway._background import LOST_NOTE
from collector.gateway._batch_poller import GIVE_UP_AFTER
from collector.mock_upstream import MockConfig, run_in_thread
from collector.pricing import DEFERRED_NOTES
from collector.settings import load_settings
from tests.gateway._background import MODEL, finished, start
from tests.gateway._batches import FAST, job_row
from tests.gateway._support import UPSTREAM_KEY, Gateway, GatewayFactory

SETTINGS = load_settings(alert_webhook_secret="k", alert_http_backoff_ms=1, alert_http_retries=1)
POLLER = "collector.gateway._batch_poller"


@pytest.fixture(scope="module")
def bg_mock() -> Iterator[str]:
    with run_in_thread(MockConfig(require_key=UPSTREAM_KEY, background_s=0.2)) as url:
        yield url


def _given_up(caplog: pytest.LogCaptureFixture, response_id: str) -> int:
    return sum(
        1
        for r in caplog.records
        if r.name == POLLER and response_id in r.getMessage() and "unpriced" in r.getMessage()
    )


def test_a_response_upstream_no_longer_has_is_given_up_unpriced_and_alerted(
    make_gateway: GatewayFactory, bg_mock: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.WARNING, logger=POLLER)
    gw = make_gateway(upstream_base_url=bg_mock, **FAST)
    response_id = start(gw.client(), delay_ms=60_000)
    gone = httpx.delete(f"{bg_mock}/responses/{response_id}",
                        headers={"Authorization": f"Bearer {UPSTREAM_KEY}"})  # fmt: skip
    assert gone.status_code == 200  # upstream forgot it: every read is a 404 now
    row = finished(gw, response_id)
    assert (row.cost_source, row.cost_usd, row.outcome) == ("unpriced", None, "client_error")
    assert row.cost_note is not None and row.cost_note.startswith(LOST_NOTE)
    assert f"404 to {GIVE_UP_AFTER} reads in a row" in row.cost_note
    assert row.cost_note not in DEFERRED_NOTES and row.model_requested == MODEL
    job = job_row(gw, response_id)
    assert job is not None and (job.status, job.lines_recorded) == ("not_found", 1)
    assert _given_up(caplog, response_id) == 1
    asyncio.run(_alerted_and_shown(gw, tmp_path))


def test_a_response_deleted_through_the_gateway_is_given_up_at_once(
    make_gateway: GatewayFactory, bg_mock: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=POLLER)
    gw = make_gateway(upstream_base_url=bg_mock, **FAST)
    client = gw.client()
    response_id = start(client, delay_ms=60_000)
    client.responses.delete(response_id)
    row = finished(gw, response_id)
    assert (row.cost_source, row.cost_usd) == ("unpriced", None)
    assert row.cost_note is not None and "deleted through the gateway" in row.cost_note
    job = job_row(gw, response_id)
    assert job is not None and job.status == "deleted"  # not a run of 404s: no read at all
    assert _given_up(caplog, response_id) == 1


async def _alerted_and_shown(gw: Gateway, tmp_path: Path) -> None:
    """The unpriced-traffic alert fires for the given-up row (the creating row, deferred, is
    not unknown spend), and the overview's unpriced figure counts it."""
    gw.server.flush()
    now = datetime.now(UTC)
    jsonl = parse_channel("file", str(tmp_path / "a.jsonl"), SETTINGS)
    add_rule(gw.engine, "unpriced", "unpriced_traffic", "global", {}, (jsonl,), now)
    report = await AlertEvaluator(gw.engine, SETTINGS).evaluate_once(now + timedelta(seconds=1))
    assert len(report.fired) == 1
    line = json.loads((tmp_path / "a.jsonl").read_text())
    assert line["details"] == {"model": MODEL, "requests": 1}
    stats = overview(gw.engine, Filters(now - timedelta(hours=1), now + timedelta(hours=1)), now)
    assert stats.unpriced_requests == 2  # the creating row (deferred) and the given-up one
    assert MODEL in stats.unpriced_models
