"""uvicorn's httptools protocol, writing a response's head together with its first body bytes.

uvicorn writes the status line and headers as soon as the app sends ``http.response.start``
and the body with the next message: two ``send`` syscalls for every answer, and a client
that may wake for the head and again for the body. Here a response's head is held until the
body follows — in the same step of the event loop, as a whole JSON body does, the two go out
in one vectored write — or until the loop's next turn, so a stream's head never waits for
its first event. Only when bytes reach the socket changes; the bytes and their order do not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

__all__ = ["HeadWithBodyProtocol"]


class _HeadWithBody:
    """The transport of one request/response cycle: its first write waits for the next one."""

    __slots__ = ("_held", "_loop", "_started", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.writelines((held, data))
        elif self._started:
            self._transport.write(data)
        else:  # the cycle's first bytes: the response head (or a 100 Continue)
            self._started = True
            self._held = data
            self._loop.call_soon(self.flush)

    def writelines(self, chunks: Iterable[bytes]) -> None:
        self.flush()
        self._transport.writelines(chunks)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():  # the client left: nothing to tell it
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HeadWithBodyProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` whose responses write their head with their first body bytes."""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        cycle.transport = _HeadWithBody(self.transport, self.loop)  # type: ignore[assignment]
        super()._start_asgi_task(cycle, app)
