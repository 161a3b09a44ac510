"""The Files and Batch API endpoints on the request path: streamed uploads, and jobs kept to
the project that created them.

``POST /v1/files`` is not read into memory: its body streams from the client to upstream
(one try; a stream cannot be replayed), bounded by ``MAX_UPLOAD_BYTES``. A job created
through ``POST /v1/batches`` is registered in ``batch_jobs`` with the key's project, user
and tags before the client hears of it, so its lines can be attributed when it ends; the
request's row names the job too, and the recorder's writer registers it from there when this
write failed (the database was down: ``collector.recorder._jobs``). A job
is answered (retrieve, cancel) only to its own project — another project's, or one the
gateway never relayed, is a 404 as upstream words it — and a list shows only the project's
own jobs. These requests carry no usage: they are recorded ``unpriced`` with a note saying
why (``pricing.job_endpoint_cost``); the lines of a job are metered as requests of their own.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from collector.batches import owned_ids, owner_of, register
from collector.budgets import job_ticket
from collector.errors import NotFound, PayloadTooLarge
from collector.gateway._background import asks_background, defer, register_started, running
from collector.gateway._body import ClientGone
from collector.gateway._exchange import Exchange
from collector.gateway._files import Owners, check_file, json_object, own_files, store_unavailable
from collector.gateway._forward import Reply
from collector.gateway._intake import Call
from collector.gateway._stored_responses import check_response
from collector.recorder import JOB_KEY, job_note

log = logging.getLogger(__name__)
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
MAX_UPLOAD_BYTES = 512 * 1024 * 1024  # OpenAI's largest file (a batch input may be 200 MB)
_ONE_JOB = re.compile(r"/v1/batches/([^/]+)(?:/cancel)?")


def is_upload(method: str, path: str) -> bool:
    return method == "POST" and path == "/v1/files"


def check_upload_size(declared: int | None) -> None:
    if declared is not None and declared > MAX_UPLOAD_BYTES:
        raise _too_large()


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"File upload too large: the limit is {MAX_UPLOAD_BYTES} bytes.")


class UploadBody:
    """The client's body, chunk by chunk as it arrives (nothing is kept). The HTTP client
    wraps an error raised while it sends, so why the body stopped is kept in ``error``."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.error: ClientGone | PayloadTooLarge | None = None

    async def chunks(self) -> AsyncGenerator[bytes]:
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.error = ClientGone()
                raise self.error
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                self.error = _too_large()
                raise self.error
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return


async def check_access(owners: Owners, call: Call, project_id: int) -> None:
    """A job or file of another project (or unknown here) is a 404, before anything is
    forwarded."""
    await check_file(owners, call, project_id)
    await check_response(owners, call, project_id)
    found = _ONE_JOB.fullmatch(call.path)
    if found is None or not (call.method == "GET" or call.path.endswith("/cancel")):
        return
    batch_id = found.group(1)
    try:
        owner = await asyncio.to_thread(owner_of, owners.engine, batch_id)
    except SQLAlchemyError:
        log.exception("gateway: cannot look up batch %s", batch_id)
        raise store_unavailable() from None
    if owner != project_id:
        raise NotFound(f"No batch found with id '{batch_id}'.", param="batch_id")


async def after_reply(owners: Owners, ex: Exchange, reply: Reply) -> None:
    """Register a created job or background response; keep a listed page to the project's
    own jobs (files)."""
    call, principal = ex.call, ex.principal
    if call is None or principal is None or reply.status >= 300 or reply.response is not None:
        return
    if asks_background(call):
        note = running(call, json_object(reply.body))
        if note is not None:
            ex.upstream = reply.upstream.name
            defer(ex, note)
            await register_started(owners, ex)
        return
    if call.path == "/v1/files" and call.method == "GET":
        body = json_object(reply.body)
        if body is not None and isinstance(body.get("data"), list):
            reply.body = await own_files(owners, principal.project_id, body)
        return
    one = _ONE_JOB.fullmatch(call.path)
    if call.path != "/v1/batches" and one is None:
        return
    body = json_object(reply.body)
    if body is None:
        return
    if one is not None:  # a job of this project (checked): its output files are too
        for kind in ("output_file_id", "error_file_id"):
            if isinstance(found := body.get(kind), str) and found:
                owners.remember(found, principal.project_id)
        return
    try:
        if call.method == "POST":
            ticket = job_ticket()
            if ticket is not None and isinstance(body.get("id"), str):
                ticket.batch_id = body["id"][:64]  # its settle books the estimate for this job
            note = job_note(body)
            if note is not None:  # the writer registers it from the row if this write fails
                ex.notes = {**(ex.notes or {}), JOB_KEY: note}
            attribution = ex.attribution
            await asyncio.to_thread(
                register, owners.engine, body, upstream=reply.upstream.name,
                project_id=principal.project_id, api_key_id=principal.api_key_id,
                end_user=attribution.end_user if attribution else principal.end_user,
                tags=attribution.tags if attribution else principal.tags, now=datetime.now(UTC),
            )  # fmt: skip
        elif call.method == "GET" and isinstance(body.get("data"), list):
            reply.body = await _own_page(owners.engine, principal.project_id, body)
    except SQLAlchemyError:
        # The job exists upstream either way: the client gets its answer (a list, empty).
        log.exception("gateway: batch job store failed for %s %s", call.method, call.path)
        if call.method == "GET":
            reply.body = orjson.dumps(body | {"data": [], "first_id": None, "last_id": None})


async def _own_page(engine: Engine, project_id: int, body: dict[str, Any]) -> bytes:
    data = [item for item in body["data"] if isinstance(item, dict)]
    ids = [item["id"] for item in data if isinstance(item.get("id"), str)]
    mine = await asyncio.to_thread(owned_ids, engine, project_id, ids)
    kept = [item for item in data if item.get("id") in mine]
    body["data"] = kept
    body["first_id"] = kept[0]["id"] if kept else None
    body["last_id"] = kept[-1]["id"] if kept else None
    return orjson.dumps(body)
