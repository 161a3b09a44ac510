"""Reading a request body within two bounds: its own size, and the bytes of all bodies held.

The key is checked from the headers before a byte of the body is read, so a client without
one cannot make the gateway buffer anything. Authenticated bodies then draw on one budget
per process (``max_body_bytes_in_flight``): a declared ``Content-Length`` is reserved up
front, chunked bodies chunk by chunk, and the bytes are given back when the request ends.
Over the budget the answer is a 503 the SDK retries, before the body is buffered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from collector.errors import PayloadTooLarge, ServerBusy

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


class BodyBudget:
    """Bytes of request bodies held by this process, against a ceiling."""

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self.held = 0

    def take(self, n: int) -> None:
        """Hold ``n`` more bytes, or raise :class:`ServerBusy` (nothing held) if over."""
        if self.held + n > self.ceiling:
            raise ServerBusy(
                "The gateway is receiving too much request data at once; please retry shortly.",
                headers={"retry-after": "1"},
            )
        self.held += n

    def give_back(self, n: int) -> None:
        self.held -= n


class BodyReader:
    """Reads one request's body, holding its bytes on ``budget`` until :meth:`release`."""

    __slots__ = ("_budget", "_held", "_limit")

    def __init__(self, budget: BodyBudget, limit: int) -> None:
        self._budget, self._limit, self._held = budget, limit, 0

    async def read(self, receive: Receive, declared: int | None) -> bytes:
        """The whole body, refused with 413 as soon as it is known to exceed the limit."""
        if declared is not None:
            if declared > self._limit:
                raise _too_large(self._limit)
            self._hold(declared)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._limit:
                raise _too_large(self._limit)
            if size > self._held:
                self._hold(size - self._held)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _hold(self, n: int) -> None:
        self._budget.take(n)
        self._held += n

    def release(self) -> None:
        """Give the bytes back (idempotent)."""
        self._budget.give_back(self._held)
        self._held = 0


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body too large: the limit is {limit} bytes.")
