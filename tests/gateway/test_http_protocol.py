"""The serving protocol writes a response's head with its first body bytes, never later than
the event loop's next turn, and never after the client left."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from collector.gateway._http import _Cycle, _HeadWithBody
from tests.gateway._support import Gateway

HEAD, BODY, MORE = b"HTTP/1.1 200 OK\r\n\r\n", b'{"ok":1}', b"data: 2\n\n"


class Wire:
    """An asyncio transport's writing side: what reached the socket, call by call."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(data)

    def writelines(self, chunks: Any) -> None:
        self.calls.append(b"".join(chunks))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def _wrap(wire: Wire) -> _HeadWithBody:
    return _HeadWithBody(cast(asyncio.Transport, wire), asyncio.get_running_loop())


async def test_a_whole_body_goes_out_with_its_head_in_one_write() -> None:
    wire = Wire()
    transport = _wrap(wire)
    transport.write(HEAD)
    assert wire.calls == []
    transport.write(BODY)
    assert wire.calls == [HEAD + BODY]
    await asyncio.sleep(0)  # the scheduled flush finds nothing left to write
    transport.write(MORE)
    assert wire.calls == [HEAD + BODY, MORE]


async def test_a_head_whose_body_waits_goes_out_on_the_next_turn() -> None:
    wire = Wire()
    transport = _wrap(wire)
    transport.write(HEAD)
    await asyncio.sleep(0)  # a stream waiting for its first event
    assert wire.calls == [HEAD]
    transport.write(MORE)
    assert wire.calls == [HEAD, MORE]


async def test_close_writes_a_held_head_first_and_a_gone_client_gets_nothing() -> None:
    wire = Wire()
    transport = _wrap(wire)
    transport.write(HEAD)
    transport.close()
    assert wire.calls == [HEAD] and wire.closing
    gone = Wire()
    transport = _wrap(gone)
    transport.write(HEAD)
    gone.closing = True  # the client left before the loop turned
    await asyncio.sleep(0)
    assert gone.calls == []
    assert transport.get_extra_info("peername") == "info:peername"


def test_answers_and_streams_arrive_whole_through_the_protocol(gateway: Gateway) -> None:
    client = gateway.client()
    reply = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.headers["x-spendscope-cost-usd"] and reply.parse().usage is not None
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            extra_headers={"x-mock-latency-ms": "50"},
        )
    )
    assert chunks and chunks[-1].choices[0].finish_reason is not None


def _cycle(cls: type[RequestResponseCycle], wire: Wire, method: str, keep_alive: bool) -> Any:
    transport = cast(asyncio.Transport, wire)
    return cls(
        scope=cast(Any, {"method": method}),
        transport=transport,
        flow=FlowControl(transport),
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=[(b"date", b"Mon, 07 Dec 2026 13:00:00 GMT")],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: None,
    )


_JSON_HEAD = [(b"content-type", b"application/json"), (b"content-length", b"8"), (b"x-a", b"r")]
_HEADS = [
    _JSON_HEAD,
    [(b"content-type", b"application/json"), (b"Content-Length", b"8"), (b"X-Request-Id", b"r1")],
    [(b"content-type", b"text/event-stream"), (b"x-ratelimit-limit-requests", b"10000")],
    [(b"Transfer-Encoding", b"chunked"), (b"x-a", b"1")],
    [(b"connection", b"close"), (b"content-length", b"8")],
    [(b"content-length", b"8"), (b"content-length", b"8")],
    [(b"", b"empty name"), (b"x-b", b"")],
    [],
]


@pytest.mark.parametrize("headers", _HEADS)
@pytest.mark.parametrize(("method", "status", "keep_alive"),
                         [("POST", 200, True), ("POST", 204, True), ("HEAD", 200, False),
                          ("GET", 404, False)])  # fmt: skip
async def test_the_quick_head_is_uvicorns_byte_for_byte(
    headers: list[tuple[bytes, bytes]], method: str, status: int, keep_alive: bool
) -> None:
    ours, theirs = Wire(), Wire()
    quick = _cycle(_Cycle, ours, method, keep_alive)
    plain = _cycle(RequestResponseCycle, theirs, method, keep_alive)
    for cycle in (quick, plain):
        await cycle.send({"type": "http.response.start", "status": status, "headers": headers})
    assert ours.calls == theirs.calls
    state = ("expected_content_length", "chunked_encoding", "keep_alive", "response_started")
    assert [getattr(quick, name) for name in state] == [getattr(plain, name) for name in state]


@pytest.mark.parametrize(
    "header", [(b"bad name", b"v"), (b"x-ok", b"line\r\nbreak"), (b"x-nul", b"\x00")]
)
async def test_a_bad_header_is_refused_as_uvicorn_refuses_it(header: tuple[bytes, bytes]) -> None:
    message = {"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1"), header]}
    errors = []
    for cls in (_Cycle, RequestResponseCycle):
        wire = Wire()
        with pytest.raises(RuntimeError) as caught:
            await _cycle(cls, wire, "POST", True).send(message)
        assert wire.calls == []
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


async def test_plain_heads_take_the_quick_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lower-case names without framing headers never reach uvicorn's own ``send``."""
    plain = RequestResponseCycle.send
    seen: list[object] = []

    async def counted(self: RequestResponseCycle, message: Any) -> None:
        seen.append(message)
        await plain(self, message)

    monkeypatch.setattr(RequestResponseCycle, "send", counted)
    wire = Wire()
    cycle = _cycle(_Cycle, wire, "POST", True)
    await cycle.send({"type": "http.response.start", "status": 200, "headers": _JSON_HEAD})
    await cycle.send({"type": "http.response.body", "body": BODY})
    assert wire.calls[0].startswith(b"HTTP/1.1 200 OK\r\ndate: ") and wire.calls[1] == BODY
    assert len(seen) == 1 and cycle.response_complete  # the body went through uvicorn
