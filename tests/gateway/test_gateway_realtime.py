"""The Realtime WebSocket through the gateway: each ``response.done`` is a priced request.

Prices are OpenAI's published gpt-realtime rates per 1M tokens (platform.openai.com/docs/
pricing, Realtime API): text in $4, cached $0.40, out $16; audio in $32, cached $0.40, out
$64. The mock upstream accepts only the gateway's own key (also in the subprotocol), so a
session that opens proves the virtual key was replaced and never forwarded.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from collector.budgets import BudgetSpec, Mode, create_budget, parse_period, parse_scope
from collector.db import Project, Request, session_scope
from collector.tokens import count_text_tokens
from tests.gateway._support import Gateway, GatewayFactory
from tests.support.realtime import events_until

MODEL = "gpt-realtime"
SNAPSHOT = "gpt-realtime-2025-08-28"
USER_TEXT = "Tell me what a realtime answer costs."
M = Decimal(1_000_000)
TEXT_IN, CACHED_IN, TEXT_OUT = Decimal("4.00"), Decimal("0.40"), Decimal("16.00")
AUDIO_IN, AUDIO_OUT = Decimal("32.00"), Decimal("64.00")
SAY = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": USER_TEXT}]}


def _ws_url(gw: Gateway) -> str:
    return gw.base_url.replace("http://", "ws://") + f"/realtime?model={MODEL}"


def _until_done(conn: Any) -> Any:
    for event in conn:
        if event.type == "response.done":
            return event
    raise AssertionError("the session ended before response.done")


def _realtime_rows(gw: Gateway) -> list[Request]:
    """The session's rows in the order their responses started (ids sort by session)."""
    rows = [r for r in gw.requests() if r.endpoint == "/v1/realtime"]
    return sorted(rows, key=lambda r: r.started_at)


@contextmanager
def _text_session(gw: Gateway, headers: dict[str, str]) -> Iterator[ClientConnection]:
    """A session opened with a fresh key of project acme, answering in text."""
    auth = {"Authorization": f"Bearer {gw.key()}", **headers}
    with connect(_ws_url(gw), additional_headers=auth) as ws:
        ws.send('{"type":"session.update","session":{"output_modalities":["text"]}}')
        yield ws


def _hard_budget(gw: Gateway, amount: Decimal) -> None:
    spec = BudgetSpec("rt-day", parse_scope("project:acme"), parse_period("day"), amount, Mode.HARD)
    create_budget(gw.engine, spec, datetime.now(UTC))


def test_text_responses_are_priced_exactly_per_response(gateway_on: GatewayFactory) -> None:
    gw = gateway_on()
    client = gw.client()
    headers = {"x-mock-output-tokens": "6", "x-mock-cached-tokens": "4"}
    with client.realtime.connect(model=MODEL, extra_headers=headers) as conn:
        conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        conn.conversation.item.create(item=SAY)  # type: ignore[arg-type]
        conn.response.create()
        first = _until_done(conn)
        conn.response.create()
        second = _until_done(conn)
    prompt = count_text_tokens(USER_TEXT, SNAPSHOT)
    rows = _realtime_rows(gw)
    assert [r.upstream_request_id for r in rows] == [first.response.id, second.response.id]
    for row, text_in in zip(rows, (prompt, prompt + 6), strict=True):
        expected = ((text_in - 4) * TEXT_IN + 4 * CACHED_IN + 6 * TEXT_OUT) / M
        assert (row.outcome, row.cost_source, row.model_served) == ("success", "computed", SNAPSHOT)
        assert (row.prompt_tokens, row.cached_tokens, row.completion_tokens) == (text_in, 4, 6)
        assert row.cost_usd == expected
    sessions = {r.metadata_["realtime_session"] for r in rows}
    assert len(sessions) == 1 and sessions.pop().startswith("sess_")


def test_audio_in_and_out_are_priced_at_audio_rates(make_gateway: GatewayFactory) -> None:
    gw = make_gateway()
    audio = bytes(range(256)) * 75  # 400 ms of 24 kHz PCM16: 4 audio input tokens
    with gw.client().realtime.connect(
        model=MODEL, extra_headers={"x-mock-output-tokens": "3"}
    ) as conn:
        conn.input_audio_buffer.append(audio=base64.b64encode(audio).decode())
        conn.input_audio_buffer.commit()
        conn.response.create()
        done = _until_done(conn)
    row = gw.only_request()
    usage = done.response.usage
    assert usage.output_token_details.audio_tokens == 15  # 3 transcript tokens spoken
    assert (row.prompt_tokens, row.audio_prompt_tokens) == (4, 4)
    assert (row.completion_tokens, row.audio_completion_tokens) == (18, 15)
    assert row.cost_usd == (4 * AUDIO_IN + 3 * TEXT_OUT + 15 * AUDIO_OUT) / M
    assert row.cost_source == "computed"


def test_key_in_the_browser_subprotocol_is_replaced_and_never_echoed(
    make_gateway: GatewayFactory,
) -> None:
    gw = make_gateway()
    key = gw.key(project="browser-app")
    protocols: Any = ["realtime", f"openai-insecure-api-key.{key}"]
    with connect(_ws_url(gw), subprotocols=protocols) as ws:
        assert ws.subprotocol == "realtime"
        assert ws.response is not None and key not in str(ws.response.headers)
        ws.send('{"type":"session.update","session":{"output_modalities":["text"]}}')
        ws.send('{"type":"response.create"}')
        events_until(ws, "response.done")
    row = gw.only_request()
    assert row.outcome == "success" and row.cost_source == "computed"
    with session_scope(gw.engine) as session:
        project = session.scalars(select(Project).where(Project.name == "browser-app")).one()
        assert row.project_id == project.id


def test_binary_frames_and_text_pass_untouched(make_gateway: GatewayFactory) -> None:
    gw = make_gateway()
    frame = bytes(range(256)) * 4
    with connect(_ws_url(gw), additional_headers={"Authorization": f"Bearer {gw.key()}"}) as ws:
        ws.recv()  # session.created
        ws.send(frame)
        assert ws.recv() == frame  # the mock echoes binary frames
    assert _realtime_rows(gw) == []  # no response, no request


def test_wrong_key_is_refused_before_the_upgrade(make_gateway: GatewayFactory) -> None:
    gw = make_gateway()
    client = gw.client(key="sk-not-a-virtual-key")
    with pytest.raises(InvalidStatus) as refused, client.realtime.connect(model=MODEL):
        pass
    response = refused.value.response
    assert response.status_code == 401
    assert orjson.loads(response.body or b"{}")["error"]["code"] == "invalid_api_key"
    with pytest.raises(InvalidStatus) as bare:
        connect(_ws_url(gw))
    assert bare.value.response.status_code == 401
    assert [r.outcome for r in gw.requests()] == ["client_error", "client_error"]


def test_hard_budget_refuses_the_next_response_and_the_session_stays_open(
    make_gateway: GatewayFactory,
) -> None:
    gw = make_gateway()
    _hard_budget(gw, Decimal("0.0002"))
    capped = '{"type":"response.create","event_id":"ask-%d","response":{"max_output_tokens":6}}'
    with _text_session(gw, {"x-mock-output-tokens": "6"}) as ws:
        ws.send(orjson.dumps({"type": "conversation.item.create", "item": SAY}).decode())
        ws.send(capped % 1)  # worst case 6 x $16/1M: admitted
        events_until(ws, "response.done")
        gw.server.flush()
        assert gw.server.run(gw.server.runtime.admitter.ledger.flush(10))
        ws.send(capped % 2)  # the conversation so far + 6 more would pass $0.0002
        error = events_until(ws, "error")[-1]["error"]
        assert (error["code"], error["event_id"]) == ("insufficient_quota", "ask-2")
        ws.send(orjson.dumps({"type": "conversation.item.create", "item": SAY}).decode())
        assert events_until(ws, "conversation.item.added")  # still open
    outcomes = [(r.outcome, r.cost_source) for r in _realtime_rows(gw)]
    assert outcomes == [("success", "computed"), ("blocked", "computed")]


def test_session_cut_mid_response_keeps_what_was_done_and_fails_the_rest(
    make_gateway: GatewayFactory,
) -> None:
    gw = make_gateway()
    with _text_session(gw, {"x-mock-fault": "cut@8", "x-mock-output-tokens": "5"}) as ws:
        ws.send(orjson.dumps({"type": "conversation.item.create", "item": SAY}).decode())
        ws.send('{"type":"response.create"}')
        events_until(ws, "response.done")  # 5 deltas, then 3 of the next one
        ws.send('{"type":"response.create"}')
        with pytest.raises(ConnectionClosedError) as cut:
            events_until(ws, "response.done")
    assert cut.value.rcvd is not None and cut.value.rcvd.code == 1011
    done, broken = _realtime_rows(gw)
    assert (done.outcome, done.cost_source, done.completion_tokens) == ("success", "computed", 5)
    assert (broken.outcome, broken.cost_source, broken.cost_usd) == (
        "upstream_error",
        "unpriced",
        None,
    )
    assert broken.error_type == "upstream_disconnected"
    assert broken.metadata_["realtime_session"] == done.metadata_["realtime_session"]


def test_upstream_unreachable_is_a_502_and_a_failure_row(make_gateway: GatewayFactory) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    gw = make_gateway(upstream_base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(InvalidStatus) as refused:
        connect(_ws_url(gw), additional_headers={"Authorization": f"Bearer {gw.key()}"})
    assert refused.value.response.status_code == 502
    row = gw.only_request()
    assert (row.endpoint, row.outcome, row.cost_source) == (
        "/v1/realtime",
        "upstream_error",
        "computed",
    )
    assert "unreachable" in (row.error_message or "")


def test_a_turn_detected_response_over_budget_is_cancelled_and_still_recorded(
    make_gateway: GatewayFactory,
) -> None:
    gw = make_gateway()
    _hard_budget(gw, Decimal("0.000001"))
    auth = {"Authorization": f"Bearer {gw.key()}", "x-mock-output-tokens": "2"}
    turn = {"turn_detection": {"type": "server_vad", "create_response": True}}
    session = {"output_modalities": ["text"], "audio": {"input": turn}}
    update = {"type": "session.update", "session": session}
    speech_then_silence = base64.b64encode(b"\x01\x02" * 2400 + bytes(24_000)).decode()
    with connect(_ws_url(gw), additional_headers=auth) as ws:
        ws.send(orjson.dumps(update).decode())
        ws.send(f'{{"type":"input_audio_buffer.append","audio":"{speech_then_silence}"}}')
        events = events_until(ws, "response.done")
        kinds = [e["type"] for e in events]
        created = kinds.index("response.created")
        assert kinds[created + 1] == "error"  # right after the response it refuses
        assert events[created + 1]["error"]["code"] == "insufficient_quota"
        cancelled = events_until(ws, "error")[-1]["error"]  # the mock's answer to the cancel
        assert cancelled["code"] == "response_cancel_not_active"
    rows = _realtime_rows(gw)
    assert sorted((r.outcome, r.cost_source) for r in rows) == [
        ("blocked", "computed"), ("success", "computed"),
    ]  # fmt: skip
    done = next(r for r in rows if r.outcome == "success")
    assert done.audio_prompt_tokens == 6 and done.cost_usd is not None and done.cost_usd > 0


def test_a_response_create_cannot_slip_past_the_budget_escaped_or_binary(
    make_gateway: GatewayFactory,
) -> None:
    gw = make_gateway()
    _hard_budget(gw, Decimal("0.000001"))
    auth = {"Authorization": f"Bearer {gw.key()}"}
    with connect(_ws_url(gw), additional_headers=auth) as ws:
        ws.send('{"type":"response\\u002ecreate","event_id":"escaped"}')
        first = events_until(ws, "error")[-1]["error"]
        ws.send(b'{"type":"response.create","event_id":"binary"}')
        second = events_until(ws, "error")[-1]["error"]
    assert [(e["code"], e["event_id"]) for e in (first, second)] == [
        ("insufficient_quota", "escaped"), ("insufficient_quota", "binary"),
    ]  # fmt: skip
    assert [r.outcome for r in _realtime_rows(gw)] == ["blocked", "blocked"]


@pytest.mark.parametrize("code", [1000, 4000])
def test_the_client_close_code_reaches_upstream(
    make_gateway: GatewayFactory, mock_base_url: str, code: int
) -> None:
    gw = make_gateway()
    with connect(_ws_url(gw), additional_headers={"Authorization": f"Bearer {gw.key()}"}) as ws:
        session = events_until(ws, "session.created")[-1]["session"]["id"]
        ws.close(code=code, reason="done here")
    seen: dict[str, Any] = {}
    for _ in range(200):  # the mock records the code once its side of the close finished
        answer = httpx.get(f"{mock_base_url.removesuffix('/v1')}/_mock/realtime/{session}")
        if answer.status_code == 200:
            seen = answer.json()
            break
        time.sleep(0.01)
    assert seen == {"session": session, "close_code": code}


def test_client_leaving_mid_response_records_it_cancelled_and_unpriced(
    make_gateway: GatewayFactory,
) -> None:
    gw = make_gateway()
    with _text_session(gw, {"x-mock-tokens-per-s": "20", "x-mock-output-tokens": "40"}) as ws:
        ws.send('{"type":"response.create"}')
        created = events_until(ws, "response.created")[-1]["response"]["id"]
        events_until(ws, "response.output_text.delta")
    for _ in range(200):  # the gateway sees the close a moment after the client
        rows = _realtime_rows(gw)
        if rows:
            break
        time.sleep(0.01)
    [row] = rows
    assert (row.outcome, row.cost_source, row.cost_usd) == ("cancelled", "unpriced", None)
    assert (row.error_type, row.upstream_request_id) == ("client_disconnected", created)
