"""``/v1/batches``: create, retrieve, list, cancel — the ``Batch`` object of the API description.

A job moves validating → in_progress → finalizing → completed, ``MockConfig.batch_step_s``
in each state, computed from the clock whenever the job is read (no background task). When
it ends, every line of its input file runs through the mock's own endpoint handler (so output
bodies carry the usage those endpoints produce) and is written, a line at a time, to an output
file (``purpose=batch_output``) or, when it failed, to an error file.

Scripted faults, through the job's ``metadata`` (a real field, so they pass any gateway):
``mock_fail_every: "N"`` — every Nth line fails (a 400 in the error file);
``mock_outcome: "expired"`` — the job expires with only ``mock_complete_lines`` lines done
(default half), the rest in the error file as ``batch_expired``;
``mock_outcome: "failed"`` — the job fails validation (no output).
A cancelled job keeps the first ``mock_complete_lines`` lines (default half); the rest are
``batch_cancelled``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from collector.mock_upstream._chat import chat_completions, completions
from collector.mock_upstream._files import FILES, page
from collector.mock_upstream._http import (
    STATE,
    ApiError,
    Ctx,
    Handler,
    bind_ctx,
    ctx_of,
    error_body,
    json_response,
)
from collector.mock_upstream._responses import responses
from collector.mock_upstream._scenario import OK
from collector.mock_upstream._vectors import embeddings, moderations

HANDLERS: dict[str, Handler] = {
    "/v1/chat/completions": chat_completions,
    "/v1/completions": completions,
    "/v1/embeddings": embeddings,
    "/v1/responses": responses,
    "/v1/moderations": moderations,
}
_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
_YIELD_EVERY = 256
_EXPIRED = "This request could not be executed before the completion window expired."
_CANCELLED = "This request was not executed: the batch was cancelled."


@dataclass(slots=True)
class Job:
    id: str
    endpoint: str
    input_file_id: str
    metadata: dict[str, str]
    created_at: int
    t0: float
    status: str = "validating"
    cancel_t: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {"total": 0, "completed": 0, "failed": 0}
    )
    stamps: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def wire(self) -> dict[str, Any]:
        """The ``Batch`` object; fields not set yet are left out (the spec types them as
        strings and integers, not nullable)."""
        wire = {
            "id": self.id, "object": "batch", "endpoint": self.endpoint,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id, "completion_window": "24h",
            "status": self.status, "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id, "created_at": self.created_at,
            "expires_at": self.created_at + 86_400, "request_counts": dict(self.counts),
            "metadata": self.metadata or None, **self.stamps,
        }  # fmt: skip
        return {k: v for k, v in wire.items() if v is not None}

    def script(self, key: str) -> str | None:
        return self.metadata.get(key)


BATCHES = web.AppKey("spendscope_mock_batches", dict[str, Job])


async def create_batch(request: web.Request) -> web.StreamResponse:
    body = ctx_of(request).body
    endpoint = body.get("endpoint")
    if endpoint not in HANDLERS:
        raise ApiError(400, f"Invalid 'endpoint': {endpoint!r}.", param="endpoint")
    if body.get("completion_window") != "24h":
        raise ApiError(400, "Invalid 'completion_window': only '24h' is supported.",
                       param="completion_window")  # fmt: skip
    file_id = body.get("input_file_id")
    stored = request.app[FILES].files.get(file_id) if isinstance(file_id, str) else None
    if stored is None or stored.purpose != "batch" or not isinstance(file_id, str):
        raise ApiError(400, f"Invalid 'input_file_id': {file_id!r} is not a batch file.",
                       param="input_file_id")  # fmt: skip
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ApiError(400, "Invalid 'metadata': expected an object.", param="metadata")
    state = request.app[STATE]
    job = Job(state.object_id("batch_"), endpoint, file_id, metadata, int(time.time()),
              time.monotonic())  # fmt: skip
    job.counts["total"] = _count_lines(stored.path)
    request.app[BATCHES][job.id] = job
    return json_response(request, job.wire(), 0)


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


async def retrieve_batch(request: web.Request) -> web.StreamResponse:
    job = await _advanced(request, request.match_info["batch_id"])
    return json_response(request, job.wire(), 0)


async def list_batches(request: web.Request) -> web.StreamResponse:
    jobs = sorted(request.app[BATCHES].values(), key=lambda j: j.id, reverse=True)
    for job in jobs:
        await _advance(request.app, job)
    data, more = page(jobs, request, lambda j: j.id)
    body = {
        "object": "list", "data": [j.wire() for j in data], "has_more": more,
        "first_id": data[0].id if data else None, "last_id": data[-1].id if data else None,
    }  # fmt: skip
    return json_response(request, body, 0)


async def cancel_batch(request: web.Request) -> web.StreamResponse:
    job = await _advanced(request, request.match_info["batch_id"])
    if job.status in _TERMINAL or job.status == "cancelling":
        raise ApiError(409, f"Cannot cancel a batch with status '{job.status}'.")
    job.cancel_t = time.monotonic()
    job.status = "cancelling"
    job.stamps["cancelling_at"] = int(time.time())
    return json_response(request, job.wire(), 0)


async def _advanced(request: web.Request, batch_id: str) -> Job:
    job = request.app[BATCHES].get(batch_id)
    if job is None:
        raise ApiError(404, f"No batch found with id '{batch_id}'.", param="batch_id")
    await _advance(request.app, job)
    return job


async def _advance(app: web.Application, job: Job) -> None:
    """Move the job along its clock; run its lines once when it ends."""
    async with job.lock:
        if job.status in _TERMINAL:
            return
        step = app[STATE].config.batch_step_s
        now, wall = time.monotonic(), int(time.time())
        if job.cancel_t is not None:
            if now - job.cancel_t >= step:
                await _finish(app, job, "cancelled", wall)
            return
        elapsed = now - job.t0
        if elapsed < step:
            return
        if job.script("mock_outcome") == "failed":
            job.errors = [{"code": "invalid_request", "message": "scripted validation failure",
                           "param": None, "line": 1}]  # fmt: skip
            job.status, job.stamps["failed_at"] = "failed", wall
            return
        job.status = "in_progress"
        job.stamps.setdefault("in_progress_at", wall)
        if elapsed < 2 * step:
            return
        job.status = "finalizing"
        job.stamps.setdefault("finalizing_at", wall)
        if elapsed < 3 * step:
            return
        expired = job.script("mock_outcome") == "expired"
        await _finish(app, job, "expired" if expired else "completed", wall)


async def _finish(app: web.Application, job: Job, status: str, wall: int) -> None:
    """Run the lines and write the output and error files, a line at a time."""
    store = app[FILES]
    total = job.counts["total"]
    keep = total
    if status in ("expired", "cancelled"):
        raw = job.script("mock_complete_lines")
        keep = int(raw) if raw and raw.isdigit() else total // 2
    ok_lines: list[bytes] = []
    error_lines: list[bytes] = []
    async for good, line in _run(app, job, keep, status):
        (ok_lines if good else error_lines).append(line)
    if ok_lines:
        job.output_file_id = store.create(f"{job.id}_output.jsonl", "batch_output", ok_lines).id
    if error_lines:
        job.error_file_id = store.create(f"{job.id}_error.jsonl", "batch_output", error_lines).id
    job.counts["completed"], job.counts["failed"] = len(ok_lines), len(error_lines)
    job.status = status
    job.stamps[f"{status}_at"] = wall


async def _run(
    app: web.Application, job: Job, keep: int, status: str
) -> AsyncIterator[tuple[bool, bytes]]:
    """Each input line's output line: (succeeded, line)."""
    state = app[STATE]
    every = job.script("mock_fail_every")
    fail_every = int(every) if every and every.isdigit() and int(every) > 0 else 0
    stored = app[FILES].get(job.input_file_id)
    # Building a mocked request costs ~0.8 ms (its transport and writer are mocks); each line
    # gets a clone of one, with a mapping of its own, in ~0.02 ms.
    template = make_mocked_request("POST", job.endpoint, app=app)
    for index, row in enumerate(_input_rows(stored.path)):
        if index % _YIELD_EVERY == _YIELD_EVERY - 1:
            await asyncio.sleep(0)
        custom_id = row.get("custom_id")
        line_id = state.object_id("batch_req_")
        if index >= keep:
            code = "batch_expired" if status == "expired" else "batch_cancelled"
            message = _EXPIRED if status == "expired" else _CANCELLED
            error = {"code": code, "message": message}
            yield False, _line(line_id, custom_id, None, error)
            continue
        if fail_every and index % fail_every == fail_every - 1:
            response = _error_response(state.request_id(), 400, "scripted line failure")
            yield False, _line(line_id, custom_id, response, None)
            continue
        response = await _execute(template.clone(), job, row)
        yield response["status_code"] < 400, _line(line_id, custom_id, response, None)


def _input_rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                yield orjson.loads(line)


async def _execute(request: web.Request, job: Job, row: dict[str, Any]) -> dict[str, Any]:
    """One line through the endpoint's own handler, as if it had been sent on its own
    (``request``: a fresh request to the job's endpoint, with nothing bound to it yet)."""
    state = request.app[STATE]
    body = row.get("body")
    if row.get("url") != job.endpoint or row.get("method") != "POST" or not isinstance(body, dict):
        message = f"The line's url must be {job.endpoint} with method POST and an object body."
        return _error_response(state.request_id(), 400, message)
    body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    bind_ctx(request, Ctx(state, time.perf_counter(), OK, body, 0.0))
    try:
        response = await HANDLERS[job.endpoint](request)
    except ApiError as exc:
        error = orjson.loads(error_body(exc.message, exc.kind, exc.param, exc.code))
        return {"status_code": exc.status, "request_id": state.request_id(), "body": error}
    raw = response.body if isinstance(response, web.Response) else b"{}"
    return {
        "status_code": response.status,
        "request_id": response.headers.get("x-request-id", state.request_id()),
        "body": orjson.loads(raw if isinstance(raw, bytes) else b"{}"),
    }


def _error_response(request_id: str, status: int, message: str) -> dict[str, Any]:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    return {"status_code": status, "request_id": request_id, "body": {"error": error}}


def _line(line_id: str, custom_id: Any, response: dict[str, Any] | None,
          error: dict[str, Any] | None) -> bytes:  # fmt: skip
    row = {"id": line_id, "custom_id": custom_id, "response": response, "error": error}
    return orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)
