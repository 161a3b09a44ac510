"""Every answer is in the record before its last byte, whatever the client sent.

Through the gateway with the official SDK: the hand-over to the recorder happens before the
last body message goes out (json, stream, error), hostile attribution and model ids are
stored with their money on both databases, and ``/healthz`` says why when it is not ok.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from sqlalchemy import select

from collector.db import Request, session_scope
from collector.recorder.storable import CHANGED_KEY
from tests.gateway._support import Gateway, GatewayFactory
from tests.gateway.test_gateway_outage import _eventually, _health

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
Message = MutableMapping[str, Any]


def _spy_on_last_bytes(gw: Gateway) -> list[int]:
    """The recorder's submitted count at each response's last body message."""
    seen: list[int] = []
    app: Any = gw.server.app
    proxy = app.proxy

    async def spy(scope: Message, receive: Any, send: Any) -> None:
        async def watched(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                seen.append(gw.server.runtime.recorder.stats.submitted)
            await send(message)

        await proxy(scope, receive, watched)

    app.proxy = spy
    return seen


def test_every_answer_is_recorded_before_its_last_byte(make_gateway: GatewayFactory) -> None:
    gw = make_gateway()
    seen = _spy_on_last_bytes(gw)
    client = gw.client()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert [c for c in stream]
    client.embeddings.create(model="text-embedding-3-small", input="x")
    with pytest.raises(openai.AuthenticationError):
        gw.client("sk-not-a-key").chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert seen == [1, 2, 3, 4]  # each request was handed over before its last byte


def _deep_metadata(levels: int) -> str:
    return '{"a":' + "[" * (levels - 1) + "]" * (levels - 1) + "}"


def test_hostile_attribution_and_models_are_stored_with_their_money(
    gateway_on: GatewayFactory,
) -> None:
    gw = gateway_on()
    client = gw.client()
    deep = _deep_metadata(1000)
    assert len(deep) < 4096  # under the header cap
    answered = [
        client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-spendscope-metadata": deep}
        ),
        client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, user="al\u0000ice"
        ),
    ]
    for model in ("gpt-4o\u0000mini", "m" * 300):
        try:
            answered.append(
                client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES)
            )
        except openai.APIStatusError as exc:  # the upstream knows no such model: still a row
            answered.append(exc.response)  # type: ignore[arg-type]
    for _ in range(5):
        answered.append(
            client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
        )
    ids = [a.headers["x-spendscope-request-id"] for a in answered]
    rows = {r.id: r for r in gw.requests()}
    assert set(ids) <= set(rows)
    deep_row, nul_row = rows[ids[0]], rows[ids[1]]
    assert deep_row.cost_usd is not None and deep_row.cost_usd > 0
    assert any("nested deeper" in note for note in deep_row.metadata_[CHANGED_KEY])
    assert nul_row.end_user == "al\ufffdice" and nul_row.cost_usd is not None
    assert rows[ids[3]].model_requested == "m" * 200
    health = _health(gw)
    assert health["status"] == "ok", health
    recorder = health["recorder"]
    assert isinstance(recorder, dict)
    assert recorder["dropped"] == 0 and recorder["quarantined"] == 0


def test_fsync_durability_answers_and_records(make_gateway: GatewayFactory) -> None:
    gw = make_gateway(recorder_durability="fsync")
    client = gw.client()
    for _ in range(5):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(gw.requests()) == 5
    journal = _health(gw)["recorder"]
    assert isinstance(journal, dict) and journal["journal"]["durability"] == "fsync"


def test_health_says_degraded_while_quarantine_holds_events(make_gateway: GatewayFactory) -> None:
    gw = make_gateway()
    gw.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    _eventually(lambda: _health(gw)["status"] == "ok", "recording works")
    spool = gw.server.runtime.recorder.spool
    spool.quarantine_lines([b"[]\n"], reason="refused by the database")
    health = _health(gw)
    assert health["status"] == "degraded"
    assert any("quarantined batches" in r for r in health["reasons"])  # type: ignore[attr-defined]
    for path in spool.quarantined():
        path.unlink()
    assert _health(gw)["status"] == "ok"
    with session_scope(gw.engine) as session:
        assert len(list(session.scalars(select(Request.id)))) == 1
    assert json.loads(httpx.get(gw.base_url.removesuffix("/v1") + "/healthz").text)["reasons"] == []
