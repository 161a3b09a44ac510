"""``POST /api/ingest`` against a real gateway: priced rows through the recorder, replays
booked once, per-event answers, and precise refusals of a body or a key.

Runs on SQLite and (when configured) PostgreSQL.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

from collector.db import hourly_rollups
from collector.ingest import reported_request_id
from collector.pricing import compute_cost
from collector.usage import Usage
from tests.gateway._support import Gateway, GatewayFactory

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
CHAT_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}


def _url(gw: Gateway) -> str:
    return gw.base_url.removesuffix("/v1") + "/api/ingest"


def _post(gw: Gateway, body: Any, key: str, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    hdrs = {"content-type": "application/json", **headers}
    if key:
        hdrs["authorization"] = f"Bearer {key}"
    return httpx.post(_url(gw), content=content, headers=hdrs, timeout=30)


def _event(event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "model": "gpt-4o-mini",
        "endpoint": "chat",
        "usage": CHAT_USAGE,
        "started_at": NOW.isoformat(),
        "latency_ms": 420.5,
        **fields,
    }


def _rollup_totals(gw: Gateway) -> tuple[int, Decimal]:
    with gw.engine.connect() as conn:
        row = conn.execute(
            select(func.sum(hourly_rollups.c.requests), func.sum(hourly_rollups.c.cost_usd))
        ).one()
    return int(row[0] or 0), Decimal(row[1] or 0)


def test_events_become_priced_rows_and_a_replay_books_nothing_twice(
    gateway_on: GatewayFactory,
) -> None:
    gw = gateway_on()
    key = gw.key(project="acme")
    events = [
        _event("e-1", tool_calls={"web_search": 1}, service_tier="default"),
        _event("e-2", model="gpt-4o-mini-2024-07-18", requested_model="gpt-4o-mini"),
        _event(
            "e-3",
            endpoint="responses",
            usage={
                "input_tokens": 50,
                "output_tokens": 20,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 8},
                "total_tokens": 70,
            },
        ),
    ]
    first = _post(gw, events, key)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["accepted"], answer["rejected"], answer["errors"]) == (3, 0, [])
    rows = {r.id: r for r in gw.requests()}
    assert len(rows) == 3
    row = rows[answer["events"][0]["request_id"]]
    usage = Usage(prompt_tokens=1200, completion_tokens=300, cached_tokens=1024, web_search_calls=1)
    expected = compute_cost(usage, "gpt-4o-mini", NOW, service_tier="default")
    assert row.cost_usd == expected.cost_usd and row.cost_usd is not None and row.cost_usd > 0
    assert (row.cost_source, row.price_id) == ("reported", expected.price_id)
    assert (row.prompt_tokens, row.cached_tokens, row.web_search_calls) == (1200, 1024, 1)
    assert (row.endpoint, row.outcome, row.http_status) == ("/v1/chat/completions", "success", 200)
    assert row.started_at == NOW and row.duration_ms == 420.5
    assert answer["events"][0]["cost_usd"] == format(expected.cost_usd, "f")
    responses = rows[answer["events"][2]["request_id"]]
    assert (responses.endpoint, responses.reasoning_tokens) == ("/v1/responses", 8)
    assert row.project_id is not None
    assert row.id == reported_request_id(row.project_id, "e-1", int(NOW.timestamp() * 1000))
    before = _rollup_totals(gw)
    assert before[0] == 3

    again = _post(gw, [*events, _event("e-4")], key)  # the batch replayed, one event new
    assert again.status_code == 200
    assert [e["request_id"] for e in again.json()["events"][:3]] == [
        e["request_id"] for e in answer["events"]
    ]
    assert len(gw.requests()) == 4
    after = _rollup_totals(gw)
    assert after[0] == 4
    new = gw.request(again.json()["events"][3]["request_id"])
    assert new.cost_usd is not None and after[1] - before[1] == new.cost_usd


def test_a_replay_through_a_restarted_gateway_books_nothing_twice(
    make_gateway: GatewayFactory,
) -> None:
    gw = make_gateway()
    key = gw.key()
    batch = [_event(f"r-{i}") for i in range(50)]
    assert _post(gw, batch, key).status_code == 200
    assert len(gw.requests()) == 50
    gw.server.stop()
    second = make_gateway()
    assert _post(second, batch, key).status_code == 200
    assert len(second.requests()) == 50
    assert _rollup_totals(second)[0] == 50


def test_bad_events_are_answered_one_by_one_and_the_rest_is_booked(gateway: Gateway) -> None:
    key = gateway.key(user="svc-bot", tags={"team": "search"})
    events: list[Any] = [
        _event("ok-1", tags={"feature": "summaries"}),
        {"model": "gpt-4o-mini", "started_at": NOW.isoformat()},
        _event("bad-usage", usage={"prompt_tokens": -3}),
        _event("bad-user", user="alice"),
        _event("bad-tag", tags={"team": "ads"}),
        "not an object",
        _event("ok-1"),
        _event("bad-endpoint", endpoint="/v1/files"),
        _event("future", started_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()),
        _event("ok-2", http_status=429, usage=None, error={"type": "rate_limit_exceeded"}),
    ]
    res = _post(gateway, events, key)
    assert res.status_code == 207
    body = res.json()
    reasons = {e["index"]: e["reason"] for e in body["errors"]}
    assert body["accepted"] == 2 and body["rejected"] == 8
    assert reasons[1] == "event_id is required"
    assert reasons[2].startswith("usage: prompt_tokens must be a non-negative integer")
    assert "belongs to user 'svc-bot'" in reasons[3]
    assert "tag 'team' is fixed to 'search'" in reasons[4]
    assert reasons[5] == "an event must be a JSON object"
    assert "repeats an earlier event" in reasons[6]
    assert "is not metered" in reasons[7]
    assert reasons[8] == "started_at is in the future"
    rows = {r.metadata_.get("n", r.id): r for r in gateway.requests()}
    assert len(rows) == 2
    by_outcome = {r.outcome: r for r in rows.values()}
    ok = by_outcome["success"]
    assert ok.end_user == "svc-bot" and ok.tags == {"team": "search", "feature": "summaries"}
    failed = by_outcome["upstream_error"]
    assert (failed.cost_usd, failed.cost_source, failed.error_type) == (
        Decimal(0),
        "reported",
        "rate_limit_exceeded",
    )


def test_unknown_models_and_missing_usage_are_unpriced_never_zero(gateway: Gateway) -> None:
    key = gateway.key()
    res = _post(gateway, [_event("u-1", model="acme-llm-9"), _event("u-2", usage=None)], key)
    assert res.status_code == 200
    rows = gateway.requests()
    assert [(r.cost_usd, r.cost_source) for r in rows] == [(None, "unpriced")] * 2
    assert {r.cost_note for r in rows} == {None, "the client reported no usage"}


def test_ndjson_headers_attribute_and_a_bad_line_is_its_own_answer(gateway: Gateway) -> None:
    key = gateway.key()
    lines = [orjson.dumps(_event("n-1")), b"{not json", orjson.dumps(_event("n-2", user="bob"))]
    res = _post(
        gateway,
        b"\n".join(lines) + b"\n",
        key,
        **{
            "content-type": "application/x-ndjson",
            "x-spendscope-user": "alice",
            "x-spendscope-tags": "env=prod",
        },
    )
    assert res.status_code == 207, res.text
    assert [e["index"] for e in res.json()["errors"]] == [1]
    rows = gateway.requests()
    assert sorted((r.end_user, r.tags["env"]) for r in rows) == [("alice", "prod"), ("bob", "prod")]


def test_a_gzipped_body_is_read(gateway: Gateway) -> None:
    body = gzip.compress(orjson.dumps([_event("g-1")]))
    res = _post(gateway, body, gateway.key(), **{"content-encoding": "gzip"})
    assert res.status_code == 200 and res.json()["accepted"] == 1


def test_a_malformed_body_an_oversized_batch_and_bad_keys_are_refused_whole(
    make_gateway: GatewayFactory,
) -> None:
    gw = make_gateway(ingest_max_events=3, ingest_max_body_bytes=4096)
    key = gw.key()
    cases = [
        (_post(gw, b"[{", key), 400, "the body is not valid JSON"),
        (_post(gw, {"event_id": "x"}, key), 400, "must be a JSON array of events"),
        (_post(gw, b"  ", key), 400, "the body is empty"),
        (_post(gw, [_event(f"m-{i}") for i in range(4)], key), 400, "at most 3 events per call"),
        (_post(gw, b"[" + b" " * 5000 + b"]", key), 413, "the limit is 4096 bytes"),
        (_post(gw, [_event("k")], "sk-spendscope-unknown"), 401, "unknown or has been revoked"),
        (_post(gw, [_event("k")], ""), 401, "didn't provide an API key"),
        (_post(gw, [], key, **{"x-spendscope-tags": "nokey"}), 400, "has no '='"),
    ]
    for res, status, message in cases:
        assert res.status_code == status, (res.status_code, res.text)
        assert message in res.json()["error"]["message"], res.text
    assert gw.requests() == []
