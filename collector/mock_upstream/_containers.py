"""``POST /v1/containers``: a code interpreter container, as OpenAI's ``ContainerResource``."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiohttp import web

from collector.mock_upstream._generate import JsonDict
from collector.mock_upstream._http import ApiError, ctx_of, json_response

MEMORY_LIMITS = ("1g", "4g", "16g", "64g")


async def create_container(request: web.Request) -> web.StreamResponse:
    """A running container named as asked, of ``memory_limit`` (default 1g), 20-minute expiry."""
    ctx = ctx_of(request)
    name, memory = ctx.body.get("name"), ctx.body.get("memory_limit", "1g")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "Missing required parameter: 'name'.", param="name",
                       code="missing_required_parameter")  # fmt: skip
    if memory not in MEMORY_LIMITS:
        raise ApiError(400, f"Invalid 'memory_limit': expected one of {', '.join(MEMORY_LIMITS)}.",
                       param="memory_limit")  # fmt: skip
    now = int(time.time())
    container: JsonDict = {
        "id": ctx.state.object_id("cntr_"),
        "object": "container",
        "name": name,
        "created_at": now,
        "status": "running",
        "last_active_at": now,
        "expires_after": {"anchor": "last_active_at", "minutes": 20},
        "memory_limit": memory,
    }
    key = request.headers.get("Authorization", "").partition(" ")[2].strip()
    ctx.state.ledger.record_session(memory, key, datetime.now(UTC))
    return json_response(request, container, 0)
