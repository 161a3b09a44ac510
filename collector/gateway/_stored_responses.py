"""Background responses on the request path: kept to their project, registered from a stream's
first event, and recorded by whichever answer shows their end first.

A stored response (``/v1/responses/{id}``, its ``/cancel``, ``/input_items``) the gateway
relayed the creation of is answered only to that project: another project's is a 404 as
upstream words it, before anything is forwarded; a resumed stream (``?stream=true``) of a
response the gateway never relayed is a 404 too. A background stream's response is
registered (``batch_jobs``, durable) as soon as its first event names it and before that
event reaches the client, so a gateway killed mid-stream leaves it to the poller of the next
one. The response's usage is one row whose id derives from the response (``_background``):
the creating stream's final event, a resumed stream's, a client's read that shows it ended,
or the poller — whichever comes first hands it over, the others store nothing twice. A later
request or the poller closes the job (``close_response``) with its hard-budget booking
replaced once (the creating stream's own booking is settled after its answer, so the poller's
next read closes that one). A ``DELETE`` relayed for a response not recorded yet tells the
poller to stop reading it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy.exc import SQLAlchemyError

from collector.batches import (
    RESPONSE_TERMINAL,
    close_response,
    mark_deleted,
    owner_of,
    response_job,
)
from collector.budgets import replace_booked
from collector.errors import NotFound
from collector.gateway._background import (
    STORED_RESPONSES,
    asks_background,
    defer,
    register_started,
    response_event,
    row_cost,
    running,
)
from collector.gateway._exchange import Exchange
from collector.gateway._files import Owners, json_object, store_unavailable
from collector.gateway._forward import Failure, Reply
from collector.gateway._intake import Call
from collector.pricing import PriceOverride
from collector.recorder import BACKGROUND_KEY, UsageEvent

log = logging.getLogger(__name__)
Submit = Callable[[Sequence[UsageEvent]], object]
_ONE_RESPONSE = re.compile(r"/v1/responses/([^/]+)(/cancel|/input_items)?")


def _named(call: Call) -> tuple[str, str | None] | None:
    """(response id, sub-path) of a request about one stored response."""
    if not call.path.startswith(STORED_RESPONSES):
        return None
    found = _ONE_RESPONSE.fullmatch(call.path)
    return (found.group(1), found.group(2)) if found is not None else None


def resumes(call: Call) -> bool:
    """``GET /v1/responses/{id}?stream=true``: a background stream taken up again."""
    if call.method != "GET" or not call.query or b"stream" not in call.query:
        return False
    named = _named(call)
    flags = parse_qs(call.query.decode("latin-1")).get("stream", [])
    return named is not None and named[1] is None and flags[-1:] == ["true"]


async def check_response(owners: Owners, call: Call, project_id: int) -> None:
    """Another project's response is a 404, and so is resuming one not relayed here."""
    named = _named(call)
    if named is None:
        return
    response_id = named[0]
    try:
        owner = await asyncio.to_thread(owner_of, owners.engine, response_id)
    except SQLAlchemyError:
        log.exception("gateway: cannot look up response %s", response_id)
        raise store_unavailable() from None
    if owner == project_id or (owner is None and not resumes(call)):
        return
    raise NotFound(f"Response with id '{response_id}' not found.", param="response_id")


def wants_registration(call: Call) -> bool:
    """A request that creates a background stream (registered from its first event)."""
    return call.stream and asks_background(call)


async def register_stream(owners: Owners, ex: Exchange) -> None:
    """The stream named its response: register it before the client sees the event (a
    failure is logged; the request's row names it, and the recorder registers it then)."""
    ex.on_started = None
    obs = ex.observer
    note = running(ex.call, obs.started) if obs is not None else None
    if note is None:
        return
    defer(ex, note)
    try:
        await register_started(owners, ex)
    except Exception:  # never into the stream: the row's note still registers it
        log.exception("gateway: background response %s not registered now", note.get("id"))


async def after_answer(
    owners: Owners, ex: Exchange, call: Call, result: Reply | Failure, submit: Submit,
    overrides: Sequence[PriceOverride],
) -> None:  # fmt: skip
    """Once the client has its answer: record a response whose end it showed, register a
    cut background stream, or stop following a deleted response."""
    if isinstance(result, Failure) or result.status >= 300:
        return
    try:
        if call.stream and ex.notes is not None and BACKGROUND_KEY in ex.notes:  # created
            obs = ex.observer
            if obs is not None and obs.ended is not None:  # its booking settles after this
                response_id = str(ex.notes[BACKGROUND_KEY]["id"])
                await _record_end(owners, ex, response_id, obs.ended, submit, overrides,
                                  close=False)  # fmt: skip
            else:
                await register_started(owners, ex)  # cut: the recorder's note is the fallback
            return
        named = _named(call)
        if named is None or named[1] is not None:
            return
        if call.method == "DELETE":
            await asyncio.to_thread(mark_deleted, owners.engine, named[0], datetime.now(UTC))
            return
        seen = ex.observer.ended if ex.observer is not None else json_object(result.body)
        if call.method == "GET" and seen is not None:
            await _record_end(owners, ex, named[0], seen, submit, overrides)
    except SQLAlchemyError as exc:  # the poller records it; the client has its answer
        log.warning("gateway: background response of %s not settled now: %r", ex.id, exc)
    except Exception:  # a bug: a traceback, but never into the request
        log.exception("gateway: background response of %s not settled now", ex.id)


async def _record_end(
    owners: Owners, ex: Exchange, response_id: str, wire: Mapping[str, Any], submit: Submit,
    overrides: Sequence[PriceOverride], *, close: bool = True,
) -> None:  # fmt: skip
    """``wire`` showed the response ended: its one row, then (``close``) its booking
    replaced and the job closed. The creating request's own booking is settled only after
    its answer, so that request leaves both to the poller's next read."""
    if wire.get("status") not in RESPONSE_TERMINAL or wire.get("id") != response_id:
        return
    job = await asyncio.to_thread(response_job, owners.engine, response_id)
    if job is None:  # recorded already, or never relayed here
        return
    now = datetime.now(UTC)
    event = response_event(job, wire, overrides, now, regional=ex.regional, provider=ex.provider)
    submit([event])
    if not close:
        return
    await asyncio.to_thread(replace_booked, owners.engine, response_id, row_cost(event), now)
    await asyncio.to_thread(close_response, owners.engine, response_id, event.model_served, now)
