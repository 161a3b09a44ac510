"""The serving protocol writes a response's head with its first body bytes, never later than
the event loop's next turn, and never after the client left."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from collector.gateway._http import _HeadWithBody
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
