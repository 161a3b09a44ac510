"""Background responses (``POST /v1/responses`` with ``background: true``), retrieve and cancel.

A background response is answered at once as ``status: "queued"`` with no output and no
``usage`` (the API description types ``usage`` as an optional object, never null); it runs
"at OpenAI" for ``MockConfig.background_s`` (or the request's ``metadata.mock_delay_ms``),
``in_progress`` from half way, then ends — and only then is it billed in the ledger, as
OpenAI bills it when it completes. ``GET /v1/responses/{id}`` returns the stored
``Response`` object as it stands; ``POST /v1/responses/{id}/cancel`` cancels one
still running (it keeps the prompt and half the output it had planned, and is billed for them).

Scripted outcomes, through the request's ``metadata`` (a real field, so they pass any gateway):
``mock_outcome: "failed"`` — it ends ``failed`` with a ``server_error`` and no usage (nothing
billed); ``mock_outcome: "incomplete"`` — it ends ``incomplete`` (``max_output_tokens``) with
half its output tokens, billed for them.
A background response that also streams is billed once when it is created and runs while its
events are sent (``in_progress`` until the stream has been written, or cut: it ends either way,
as it does at OpenAI when the client goes away). Its events are kept, so
``GET /v1/responses/{id}?stream=true&starting_after=N`` replays those after sequence number N
(all of them without ``starting_after``). ``DELETE /v1/responses/{id}`` forgets a response: a
retrieve answers 404 from then on.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from collector.mock_upstream._generate import JsonDict
from collector.mock_upstream._http import STATE, ApiError, Ctx, json_response, send_events

BACKGROUND: web.AppKey[dict[str, BackgroundResponse]] = web.AppKey("spendscope_mock_background")
_RUNNING = frozenset({"queued", "in_progress"})
_OUTCOMES = frozenset({"completed", "failed", "incomplete"})
_FAILED = {"code": "server_error", "message": "The model failed to generate a response."}


@dataclass(slots=True)
class BackgroundResponse:
    """One stored response: the object as it will end, and where it stands now."""

    final: JsonDict  # the completed object the handler built (with output and usage)
    now: JsonDict  # what a retrieve answers
    api_key: str
    tools: dict[str, Any]
    delay_s: float
    t0: float
    timer: asyncio.TimerHandle | None = None
    events: list[tuple[bytes, bool]] | None = None  # a streamed one: its events, to replay


def _outcome(body: JsonDict) -> str:
    metadata = body.get("metadata")
    wanted = metadata.get("mock_outcome") if isinstance(metadata, dict) else None
    if wanted is None:
        return "completed"
    if wanted not in _OUTCOMES:
        raise ApiError(400, f"metadata.mock_outcome must be one of {sorted(_OUTCOMES)}")
    return str(wanted)


def _delay_s(body: JsonDict, default: float) -> float:
    metadata = body.get("metadata")
    raw = metadata.get("mock_delay_ms") if isinstance(metadata, dict) else None
    if raw is None:
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ApiError(400, "metadata.mock_delay_ms must be a number") from None
    if value < 0:
        raise ApiError(400, "metadata.mock_delay_ms must be >= 0")
    return value / 1000


def _partial(usage: JsonDict, share_out: bool) -> JsonDict:
    """The usage of a response that stopped early: its prompt, and half its output."""
    out = usage["output_tokens"] // 2 if share_out else 0
    reasoning = min(usage["output_tokens_details"]["reasoning_tokens"], out)
    return {
        **usage,
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": usage["input_tokens"] + out,
    }


def start(
    request: web.Request, ctx: Ctx, obj: JsonDict, tools: dict[str, Any]
) -> web.StreamResponse:
    """Store a background response and answer it ``queued`` (not billed yet)."""
    outcome = _outcome(ctx.body)
    final = {**obj, "background": True}
    if outcome == "incomplete":
        final.update(status="incomplete", completed_at=None, usage=_partial(obj["usage"], True),
                     incomplete_details={"reason": "max_output_tokens"})  # fmt: skip
    elif outcome == "failed":
        final.update(status="failed", completed_at=None, output=[], error=_FAILED)
        del final["usage"]
    queued = {**final, "status": "queued", "completed_at": None, "output": [], "error": None,
              "incomplete_details": None}  # fmt: skip
    queued.pop("usage", None)
    key = request.headers.get("Authorization", "").partition(" ")[2].strip()
    delay = _delay_s(ctx.body, ctx.state.config.background_s)
    job = BackgroundResponse(final, queued, key, tools, delay, time.monotonic())
    request.app[BACKGROUND][final["id"]] = job
    app = request.app
    job.timer = asyncio.get_running_loop().call_later(job.delay_s, _end, app, job, None)
    return json_response(request, queued, 0)


def keep_streamed(request: web.Request, obj: JsonDict, events: list[tuple[bytes, bool]]) -> None:
    """A background response sent as a stream: running until :func:`streamed` (billed with
    the stream), its events kept for a resumed stream."""
    final = {**obj, "background": True}
    running = {**final, "status": "in_progress", "completed_at": None, "output": []}
    running.pop("usage", None)
    job = BackgroundResponse(final, running, "", {}, 0.0, time.monotonic(), events=events)
    request.app[BACKGROUND][obj["id"]] = job


def streamed(request: web.Request, response_id: str) -> None:
    """The stream of a background response was written (or cut): the response has ended."""
    job = request.app[BACKGROUND].get(response_id)
    if job is not None and job.now["status"] in _RUNNING:
        job.now = job.final


def _end(app: web.Application, job: BackgroundResponse, cancelled: JsonDict | None) -> None:
    """The response ends (or is cancelled): it takes its final form and is billed."""
    if job.now["status"] not in _RUNNING:
        return
    job.now = cancelled if cancelled is not None else job.final
    if job.now["status"] == "completed":
        job.now["completed_at"] = int(time.time())
    usage = job.now.get("usage")
    if isinstance(usage, dict):
        tools = job.tools if job.now["status"] == "completed" else {}
        app[STATE].ledger.record(
            "responses", job.now["model"], usage, job.api_key, datetime.now(UTC), tools
        )


def _stored(request: web.Request) -> BackgroundResponse:
    response_id = request.match_info["response_id"]
    job = request.app[BACKGROUND].get(response_id)
    if job is None:
        raise ApiError(404, f"Response with id '{response_id}' not found.", param="response_id")
    if job.now["status"] == "queued" and time.monotonic() - job.t0 >= job.delay_s / 2:
        job.now = {**job.now, "status": "in_progress"}
    return job


async def retrieve_response(request: web.Request) -> web.StreamResponse:
    """``GET /v1/responses/{id}``: the stored object as it stands; with ``stream=true`` the
    events of a streamed one after ``starting_after`` (a resumed stream)."""
    job = _stored(request)
    if request.query.get("stream", "").lower() != "true":
        return json_response(request, job.now, 0)
    if job.events is None:
        raise ApiError(400, "This response was not created with stream=true.", param="stream")
    raw = request.query.get("starting_after")
    try:
        after = int(raw) if raw is not None else -1
    except ValueError:
        raise ApiError(400, "starting_after must be an integer.", param="starting_after") from None
    return await send_events(request, job.events[max(after + 1, 0) :], 0, done=False)


async def delete_response(request: web.Request) -> web.StreamResponse:
    """``DELETE /v1/responses/{id}``: the response is gone (a running one stops, unbilled)."""
    job = _stored(request)
    if job.timer is not None:
        job.timer.cancel()
    del request.app[BACKGROUND][request.match_info["response_id"]]
    return web.Response(status=200)


async def cancel_response(request: web.Request) -> web.StreamResponse:
    """``POST /v1/responses/{id}/cancel``: a running response stops, billed for what it did."""
    job = _stored(request)
    if job.now["status"] in _RUNNING:
        if job.timer is not None:
            job.timer.cancel()
        usage = job.final.get("usage")
        cancelled = {**job.final, "status": "cancelled", "completed_at": None, "error": None}
        if isinstance(usage, dict):
            cancelled["usage"] = _partial(usage, True)
        _end(request.app, job, cancelled)
    return json_response(request, job.now, 0)
