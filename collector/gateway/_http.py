"""uvicorn's httptools protocol, writing a response's head together with its first body bytes.

uvicorn writes the status line and headers as soon as the app sends ``http.response.start``
and the body with the next message: two ``send`` syscalls for every answer, and a client
that may wake for the head and again for the body. Here a response's head is held until the
body follows — in the same step of the event loop, as a whole JSON body does, the two go out
in one vectored write — or until the loop's next turn, so a stream's head never waits for
its first event. Only when bytes reach the socket changes; the bytes and their order do not.

The head itself is built by ``_Cycle.send``: uvicorn runs two regular expressions on every
header (name and value) and lower-cases each name, ~15 headers an answer; here one table
lookup over all names and one over all values find a byte uvicorn would refuse, and the head
is joined in one pass. Anything but the plain case (a capital or repeated name, framing or
connection headers, flow control, an access log) takes uvicorn's own path, so the bytes
written and the errors raised are uvicorn's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

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


# Header names whose values change the response's framing or connection: uvicorn's own path.
_FRAMING = frozenset({b"transfer-encoding", b"connection"})
# The bytes uvicorn's HEADER_RE and HEADER_VALUE_RE match (each a character class); a name
# with capitals takes uvicorn's path too (it lower-cases them; ours are lower-case already).
_BAD_OR_UPPER_NAME = bytes(b for b in range(256) if HEADER_RE.match(bytes([b])) or 65 <= b <= 90)
_BAD_VALUE = bytes(b for b in range(256) if HEADER_VALUE_RE.match(bytes([b])))


def _has_any(data: bytes, chars: bytes) -> bool:
    """Whether ``data`` holds any of ``chars`` (a table lookup a byte: no regex per header)."""
    return len(data.translate(None, chars)) != len(data)


_EMPTY_BODY_STATUS = (204, 304)


class _Cycle(RequestResponseCycle):
    """uvicorn's request/response cycle with the common response head built in one pass."""

    def send(self, message: Any) -> Awaitable[None]:  # type: ignore[override]
        """uvicorn's own ``send`` (its coroutine itself: no extra one around each body
        message), but for a plain response head."""
        if (
            self.response_started
            or message["type"] != "http.response.start"
            or self.access_log
            or self.disconnected
            or self.flow.write_paused
        ):
            return RequestResponseCycle.send(self, message)
        return self._head(message)

    async def _head(self, message: Any) -> None:
        headers = self.default_headers + list(message.get("headers", []))
        found = dict(headers)
        if (
            len(found) != len(headers)  # a name twice: uvicorn keeps the first length
            or _has_any(b"".join(found), _BAD_OR_UPPER_NAME)
            or _has_any(b"".join(found.values()), _BAD_VALUE)
            or not _FRAMING.isdisjoint(found)
        ):
            await RequestResponseCycle.send(self, message)  # its errors and framing rules
            return
        self.response_started = True
        self.waiting_for_100_continue = False
        status = message["status"]
        content = [STATUS_LINE[status]]
        if headers:
            content += (b"\r\n".join(map(b": ".join, headers)), b"\r\n")
        length = found.get(b"content-length")
        if length is not None:
            self.expected_content_length = int(length.decode())
            self.chunked_encoding = False
        if not self.keep_alive:
            content.append(b"connection: close\r\n")
        chunked = self.scope["method"] != "HEAD" and status not in _EMPTY_BODY_STATUS
        if self.chunked_encoding is None and chunked:
            self.chunked_encoding = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        self.transport.write(b"".join(content))


class HeadWithBodyProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` whose responses write their head with their first body bytes."""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        cycle.__class__ = _Cycle  # the cycle uvicorn just made, with the quicker head
        cycle.transport = _HeadWithBody(self.transport, self.loop)  # type: ignore[assignment]
        super()._start_asgi_task(cycle, app)
