"""Files kept to the project that uploaded them through the gateway.

``GET /v1/files/{id}``, its ``/content``, ``DELETE /v1/files/{id}`` and a batch's
``input_file_id`` are answered only to the file's project (``collector.batches.file_owner``:
its uploader's, or its job's for an output or error file); another project's file, or one
never uploaded through the gateway, is a 404 as upstream words it, before anything is
forwarded. ``GET /v1/files`` lists only the project's own files. An upload is registered
when upstream answers it, and named in its request's row so the recorder registers it if the
database was down then. Owners found are remembered (bounded), so a file this process
uploaded or has seen stays usable while the database is away.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from collector.batches import file_owner, owned_files, register_file
from collector.errors import GatewayError, NotFound
from collector.gateway._exchange import Exchange
from collector.gateway._forward import Reply
from collector.gateway._intake import Call
from collector.recorder import FILE_KEY, file_note

log = logging.getLogger(__name__)
_ONE_FILE = re.compile(r"/v1/files/([^/]+)(/content)?")
_REMEMBERED = 50_000


class Owners:
    """Which project owns a file: asked of the database, remembered once known."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._files: dict[str, int] = {}

    def remember(self, file_id: str, project_id: int) -> None:
        if len(self._files) >= _REMEMBERED:
            self._files.clear()
        self._files[file_id] = project_id

    async def owner(self, file_id: str) -> int | None:
        found = self._files.get(file_id)
        if found is not None:
            return found
        try:
            found = await asyncio.to_thread(file_owner, self.engine, file_id)
        except SQLAlchemyError:
            log.exception("gateway: cannot look up file %s", file_id)
            raise store_unavailable() from None
        if found is not None:
            self.remember(file_id, found)
        return found


def store_unavailable() -> GatewayError:
    return GatewayError(
        "The batch job store is unavailable; please retry shortly.", code="job_store_unavailable"
    )


def file_in(call: Call) -> tuple[str, str] | None:
    """The file a request reads, deletes or runs a batch on, and the parameter naming it."""
    if call.method == "POST" and call.path == "/v1/batches":
        body = call.body if call.body is not None else json_object(call.raw)
        named = body.get("input_file_id") if body is not None else None
        return (named, "input_file_id") if isinstance(named, str) else None
    found = _ONE_FILE.fullmatch(call.path)
    if found is None or call.method not in ("GET", "DELETE"):
        return None
    if found.group(2) and call.method != "GET":
        return None
    return found.group(1), "id"


async def check_file(owners: Owners, call: Call, project_id: int) -> None:
    """Another project's file (or one unknown here) is a 404, before anything is forwarded."""
    named = file_in(call)
    if named is None:
        return
    file_id, param = named
    if await owners.owner(file_id) != project_id:
        raise NotFound(f"No such File object: {file_id}", param=param)


async def after_upload(owners: Owners, ex: Exchange, reply: Reply) -> None:
    """The uploaded file is the key's project's: remembered, registered, and named in the
    request's row (the recorder registers it from there if this write fails)."""
    principal = ex.principal
    if principal is None or reply.status >= 300 or reply.response is not None:
        return
    body = json_object(reply.body)
    note = file_note(body) if body is not None else None
    if body is None or note is None:
        return
    ex.notes = {**(ex.notes or {}), FILE_KEY: note}
    owners.remember(note["id"], principal.project_id)
    try:
        await asyncio.to_thread(
            register_file, owners.engine, body, project_id=principal.project_id,
            api_key_id=principal.api_key_id, now=datetime.now(UTC),
        )  # fmt: skip
    except SQLAlchemyError:
        log.exception("gateway: file %s not registered now (its request's row will)", note["id"])


async def own_files(owners: Owners, project_id: int, body: dict[str, Any]) -> bytes:
    """A page of ``GET /v1/files`` kept to the project's own files."""
    data = [item for item in body.get("data", []) if isinstance(item, dict)]
    ids = [item["id"] for item in data if isinstance(item.get("id"), str)]
    try:
        mine = await asyncio.to_thread(owned_files, owners.engine, project_id, ids)
    except SQLAlchemyError:
        log.exception("gateway: file store failed listing files")
        mine = set()
    kept = [item for item in data if item.get("id") in mine]
    body["data"] = kept
    if "first_id" in body or "last_id" in body:
        body["first_id"] = kept[0]["id"] if kept else None
        body["last_id"] = kept[-1]["id"] if kept else None
    return orjson.dumps(body)


def json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None
