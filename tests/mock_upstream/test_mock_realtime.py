"""The mock's Realtime WebSocket: OpenAI's event shapes, usage as billed, the cut fault."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

import openai
import pytest
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect

from collector.mock_upstream import MockConfig, run_in_thread
from collector.mock_upstream._realtime import AUDIO_PER_TEXT_TOKEN
from collector.tokens import count_text_tokens
from tests.support.realtime import events_until

Validate = Callable[[Any, str], None]
USER_TEXT = "How much does a realtime answer cost?"


def _until_done(conn: Any) -> tuple[list[str], Any]:
    seen = []
    for event in conn:
        seen.append(event.type)
        if event.type == "response.done":
            return seen, event
    raise AssertionError(f"no response.done after {seen}")


def test_text_response_events_and_usage(client: openai.OpenAI, openapi: Validate) -> None:
    headers = {"x-mock-output-tokens": "6"}
    with client.realtime.connect(model="gpt-realtime", extra_headers=headers) as conn:
        conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": USER_TEXT}],
            }
        )
        conn.response.create()
        seen, done = _until_done(conn)
    assert seen[:4] == ["session.created", "session.updated", "conversation.item.added",
                        "conversation.item.done"]  # fmt: skip
    assert seen[4] == "response.created" and seen[5:-1] == ["response.output_text.delta"] * 6
    body = done.model_dump(mode="json", exclude_none=True)
    openapi(body, "RealtimeServerEventResponseDone")
    usage = body["response"]["usage"]
    prompt = count_text_tokens(USER_TEXT, "gpt-realtime-2025-08-28")
    assert usage["input_tokens"] == prompt and usage["output_tokens"] == 6
    assert usage["input_token_details"]["text_tokens"] == prompt
    assert usage["output_token_details"] == {"text_tokens": 6, "audio_tokens": 0}


def test_audio_input_is_billed_per_100_ms_and_output_speaks_the_text(base_url: str) -> None:
    audio = bytes(range(256)) * 75  # 19,200 bytes of binary-unsafe PCM: 400 ms
    url = base_url.replace("http", "ws") + "/realtime?model=gpt-realtime"
    headers = {"Authorization": "Bearer sk-test", "x-mock-output-tokens": "3"}
    with connect(url, additional_headers=headers) as ws:
        ws.recv()  # session.created
        for start in range(0, len(audio), 4096):
            chunk = base64.b64encode(audio[start : start + 4096]).decode()
            ws.send(f'{{"type":"input_audio_buffer.append","audio":"{chunk}"}}')
        ws.send('{"type":"input_audio_buffer.commit"}')
        ws.send('{"type":"response.create"}')
        events = events_until(ws, "response.done")
    usage = events[-1]["response"]["usage"]
    assert usage["input_token_details"]["audio_tokens"] == math.ceil(len(audio) / 4800) == 4
    assert usage["output_token_details"] == {
        "text_tokens": 3,
        "audio_tokens": 3 * AUDIO_PER_TEXT_TOKEN,
    }
    spoken = sum(
        len(base64.b64decode(e["delta"]))
        for e in events
        if e["type"] == "response.output_audio.delta"
    )
    assert spoken == 3 * AUDIO_PER_TEXT_TOKEN * 2400  # 50 ms of audio per output token


def test_bad_audio_is_an_error_event_and_the_session_stays_open(base_url: str) -> None:
    url = base_url.replace("http", "ws") + "/realtime?model=gpt-realtime"
    with connect(url, additional_headers={"Authorization": "Bearer sk-test"}) as ws:
        ws.recv()
        ws.send('{"type":"input_audio_buffer.append","audio":"not base64!"}')
        error = events_until(ws, "error")[-1]
        assert error["error"]["code"] == "invalid_value" and "base64" in error["error"]["message"]
        ws.send(b"\x00\xffraw")
        assert ws.recv() == b"\x00\xffraw"  # binary frames are echoed unchanged


def test_cut_drops_the_connection_after_n_deltas(base_url: str) -> None:
    url = base_url.replace("http", "ws") + "/realtime?model=gpt-realtime"
    headers = {"Authorization": "Bearer sk-test", "x-mock-fault": "cut@3",
               "x-mock-output-tokens": "10"}  # fmt: skip
    with connect(url, additional_headers=headers) as ws:
        ws.recv()
        ws.send('{"type":"session.update","session":{"output_modalities":["text"]}}')
        ws.send('{"type":"response.create"}')
        kinds = []
        with pytest.raises(ConnectionClosedError):
            while True:
                kinds.append(ws.recv())
    assert sum('"response.output_text.delta"' in k for k in kinds) == 3
    assert not any('"response.done"' in k for k in kinds)


def test_a_key_in_the_subprotocol_must_be_the_required_key() -> None:
    with run_in_thread(MockConfig(require_key="sk-right")) as base_url:
        url = base_url.replace("http", "ws") + "/realtime?model=gpt-realtime"
        auth = {"Authorization": "Bearer sk-right"}
        with pytest.raises(InvalidStatus) as refused:
            connect(url, additional_headers=auth,
                    subprotocols=["realtime", "openai-insecure-api-key.sk-wrong"])  # type: ignore[list-item]  # fmt: skip
        assert refused.value.response.status_code == 401
        with connect(url, additional_headers=auth, subprotocols=["realtime"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == "realtime"
