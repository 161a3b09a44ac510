"""Reading Realtime server events off a ``websockets`` client connection in tests."""

from __future__ import annotations

from typing import Any

import orjson
from websockets.sync.client import ClientConnection


def events_until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    """Server events up to and including the first of type ``kind``."""
    events = []
    while True:
        event = orjson.loads(ws.recv())
        events.append(event)
        if event["type"] == kind:
            return events
