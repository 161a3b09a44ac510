"""Real local receivers for alert channels: an aiohttp HTTP server and an aiosmtpd SMTP server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Captured:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    base: str
    requests: list[Captured] = field(default_factory=list)
    fail_first: dict[str, int] = field(default_factory=dict)  # path -> 500s before success

    def on(self, path: str) -> list[Captured]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    rec = Receiver(f"http://127.0.0.1:{port}")

    async def handle(request: web.Request) -> web.Response:
        rec.requests.append(Captured(request.path, dict(request.headers), await request.read()))
        if rec.fail_first.get(request.path, 0) > 0:
            rec.fail_first[request.path] -= 1
            return web.Response(status=500)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield rec
    await runner.cleanup()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Inbox]]:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()
