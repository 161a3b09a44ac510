"""``/metrics`` on a real gateway: the official SDK's traffic through the mock upstream, scraped
and parsed, agrees with the rows the recorder stored."""

from __future__ import annotations

import logging
from collections import Counter
from decimal import Decimal

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from collector.db import Request
from collector.recorder import UsageEvent
from tests.gateway._support import Gateway, GatewayFactory, scenario

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say something short."}]


def _scrape(gw: Gateway, **headers: str) -> httpx.Response:
    return httpx.get(gw.base_url.removesuffix("/v1") + "/metrics", headers=headers)


def _samples(gw: Gateway) -> list[Sample]:
    response = _scrape(gw)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families = text_string_to_metric_families(response.text)
    return [s for family in families for s in family.samples]


def _by(samples: list[Sample], name: str, label: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for s in samples:
        if s.name == name:
            totals[s.labels[label]] = totals.get(s.labels[label], 0.0) + s.value
    return totals


def _one(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def _traffic(gw: Gateway) -> None:
    """Successes, a retried success, a retried failure, a client error and a stream."""
    client = gw.client(gw.key(project="acme"))
    for _ in range(3):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES,
        extra_headers={**scenario(), "x-mock-fault": "502,ok"},
    )  # fmt: skip
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES,
            extra_headers={**scenario(), "x-mock-fault": "500"},
        )  # fmt: skip
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    assert list(stream)


def _money_by_series(rows: list[Request]) -> dict[tuple[str, str, str], Decimal]:
    money: dict[tuple[str, str, str], Decimal] = {}
    for r in rows:
        if r.cost_usd is not None:
            key = (r.model_served or r.model_requested or "", str(r.project_id), r.cost_source)
            money[key] = money.get(key, Decimal(0)) + r.cost_usd
    return money


def test_scrape_agrees_with_the_stored_rows(gateway_on: GatewayFactory) -> None:
    gw = gateway_on(max_attempts=2)
    _traffic(gw)
    rows = gw.requests()  # flushed: every request is written
    samples = _samples(gw)
    assert len(rows) == 7
    assert _by(samples, "spendscope_requests_total", "outcome") == dict(
        Counter(r.outcome for r in rows)
    )
    assert _by(samples, "spendscope_requests_total", "outcome") == {
        "success": 5, "upstream_error": 1, "client_error": 1,
    }  # fmt: skip
    for (model, project, source), money in _money_by_series(rows).items():
        exposed = _one(samples, "spendscope_cost_usd_total", model=model, project=project,
                       cost_source=source)  # fmt: skip
        assert exposed == float(money)
    assert sum(r.cost_usd for r in rows if r.cost_usd) > 0
    assert _by(samples, "spendscope_tokens_total", "kind")["prompt"] == sum(
        r.prompt_tokens for r in rows
    )
    assert _by(samples, "spendscope_retried_requests_total", "outcome") == {
        "success": 1, "upstream_error": 1,
    }  # fmt: skip
    attempts = _by(samples, "spendscope_upstream_attempts_total", "status_class")
    assert sum(attempts.values()) == sum(r.attempt_count for r in rows)
    assert (attempts["5xx"], attempts["4xx"]) == (3, 1)
    assert _one(samples, "spendscope_request_duration_seconds_count",
                endpoint="/v1/chat/completions") == 7  # fmt: skip
    assert _one(samples, "spendscope_time_to_first_token_seconds_count",
                endpoint="/v1/chat/completions") == 1  # fmt: skip


def test_scrape_shows_the_recorder_and_health(gateway: Gateway) -> None:
    gateway.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    gateway.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(gateway.requests()) == 2
    samples = _samples(gateway)
    stats = gateway.server.runtime.recorder.stats
    assert _one(samples, "spendscope_recorder_events_submitted_total") == stats.submitted == 2
    assert _one(samples, "spendscope_recorder_events_written_total") == stats.written == 2
    assert _one(samples, "spendscope_recorder_events_spooled_total") == 0
    assert _one(samples, "spendscope_recorder_events_dropped_total") == 0
    assert _one(samples, "spendscope_recorder_queue_depth") == 0
    assert _one(samples, "spendscope_recorder_spool_pending_batches") == 0
    assert _one(samples, "spendscope_recorder_writer_starts_total") >= 1
    assert _one(samples, "spendscope_health_ok") == 1


def test_metrics_token_when_set(make_gateway: GatewayFactory) -> None:
    gw = make_gateway(metrics_token="scrape-me")
    assert _scrape(gw).status_code == 401
    assert _scrape(gw, authorization="Bearer wrong").status_code == 401
    assert _scrape(gw, authorization="Bearer scrape-me").status_code == 200


def test_a_failure_to_count_never_reaches_the_client(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: UsageEvent) -> None:
        raise RuntimeError("counting failed")

    gateway.server.runtime.metrics.observe = broken
    with caplog.at_level(logging.ERROR, logger="collector.gateway._runtime"):
        completion = gateway.client().chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES
        )
        row = gateway.only_request()  # recorded all the same
    assert completion.choices[0].message.content and row.outcome == "success"
    assert "could not count request" in caplog.text
