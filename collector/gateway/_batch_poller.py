"""Following Batch API jobs until they end, then recording one request per line.

Every ``batch_poll_interval_s`` the poller leases the jobs not yet recorded (state in
``batch_jobs``, so a restarted gateway picks up where the last one stopped, and several
processes never work on one job at once), asks upstream about each, and copies its status.
Once a job has ended, its output and error files are read from upstream a chunk at a time,
each line turned into a priced event (``_batch_lines``) and put in a line sink — taken in as
relayed requests are, then written straight by the writer process (``recorder.direct``: the
file stands in for the journal) — before the job is marked recorded. A line's request id is
derived from the job and the line, so reading a file again (a retry, a restart, a lost
lease) stores nothing twice. Before the job is marked recorded, the estimate its creation
booked on hard budgets is replaced by what its lines cost (once: ``budgets.replace_booked``).
A background Responses API response (``kind`` ``response``, ``_background``) is followed the
same way under the same leases, read with ``GET /v1/responses/{id}`` until it has ended, and
then recorded as one request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, Protocol, TypeVar

import aiohttp
import orjson
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from collector.batches import (
    DELETED,
    NOT_FOUND,
    RESPONSE,
    RESPONSE_TERMINAL,
    TERMINAL_STATUSES,
    JobRef,
    back_off,
    claim_open,
    close_response,
    ended_at,
    mark_recorded,
    release,
    update_status,
)
from collector.budgets import replace_booked
from collector.errors import StorageError
from collector.gateway._background import lost_event, response_event, row_cost
from collector.gateway._batch_lines import LineContext, LineTally, line_events
from collector.gateway._upstream import Upstream, UpstreamTable
from collector.pricing import PriceOverride
from collector.recorder import UsageEvent

log = logging.getLogger(__name__)
_CHUNK = 1 << 16
_PAUSE_EVERY = 500  # lines between yields to the event loop (and backlog checks)
GIVE_UP_AFTER = 5  # 404s in a row after which a background response is given up
MAX_PAUSE_S = 300.0  # longest pause before a job upstream could not answer is asked again
_SHUTDOWN_WAIT_S = 5.0  # longest wait at shutdown for database calls still running
_P = ParamSpec("_P")
_T = TypeVar("_T")


class LineSink(Protocol):
    """Where one job's priced lines go (``collector.recorder.direct.DirectLines``): the job
    is marked recorded only after ``finish`` returned."""

    async def put(self, events: Sequence[UsageEvent]) -> None: ...

    async def finish(self) -> object: ...


class _Submitting:
    """A sink that hands each run of lines to ``submit`` (the recorder's journal and queue)."""

    def __init__(self, submit: Callable[[Sequence[UsageEvent]], object]) -> None:
        self.submit = submit

    async def put(self, events: Sequence[UsageEvent]) -> None:
        self.submit(events)

    async def finish(self) -> None:
        return None


class BatchPoller:
    """One per gateway process; ``run_forever`` is its background task. A job's lines go to a
    sink from ``lines`` (by default, each run of them to ``submit``)."""

    def __init__(
        self,
        engine: Engine,
        session: aiohttp.ClientSession,
        upstreams: UpstreamTable,
        submit: Callable[[Sequence[UsageEvent]], object],
        overrides: Callable[[], Sequence[PriceOverride]],
        *,
        lease_s: float,
        backlog: Callable[[], int] = lambda: 0,
        max_backlog: int = 20_000,
        lines: Callable[[], LineSink] | None = None,
    ) -> None:
        self.engine, self.session, self.upstreams = engine, session, upstreams
        self.submit, self.overrides, self.lease_s = submit, overrides, lease_s
        self.lines = lines if lines is not None else lambda: _Submitting(submit)
        self.backlog, self.max_backlog = backlog, max_backlog
        self.interval_s = 1.0  # the shortest pause after upstream could not answer (run_forever's)
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{os.urandom(4).hex()}"
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120)
        self._running: set[asyncio.Future[Any]] = set()  # database calls on threads
        self._polling = True

    async def run_forever(self, interval_s: float) -> None:
        self.interval_s = interval_s
        try:
            while True:
                try:
                    await self.poll_once()
                except Exception as exc:  # the database or upstream is away; a bug: traceback
                    expected = isinstance(exc, SQLAlchemyError)
                    log.warning("batches: poll failed (retrying in %.1f s): %r", interval_s, exc,
                                exc_info=not expected)  # fmt: skip
                await asyncio.sleep(interval_s)
        finally:
            await self._let_go()

    async def _db(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """``fn`` on a thread. Cancelled meanwhile, the call still runs to its end, and
        ``_let_go`` waits for it: a lease it takes then is released, not left behind."""
        task = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
        self._running.add(task)
        task.add_done_callback(self._done)
        return await asyncio.shield(task)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None and not self._polling:
            log.warning("batches: a call ended after shutdown: %r", task.exception())

    async def _let_go(self) -> None:
        """Release this process's leases at shutdown, once its calls still running have
        ended (a failure only delays the jobs: the leases run out by themselves)."""
        self._polling = False
        if self._running:
            await asyncio.wait(set(self._running), timeout=_SHUTDOWN_WAIT_S)
        try:
            await asyncio.shield(asyncio.to_thread(release, self.engine, self.owner))
        except Exception as exc:
            log.warning("batches: leases not released at shutdown: %s", exc)

    async def poll_once(self) -> int:
        """Follow every job this process could lease; returns how many ended and were recorded."""
        now = datetime.now(UTC)
        jobs = await self._db(claim_open, self.engine, self.owner, now, self.lease_s)
        recorded = 0
        for job in jobs:
            try:
                recorded += await self._follow(job)
            except (TimeoutError, aiohttp.ClientError, ValueError, StorageError) as exc:
                # StorageError: its lines could be neither written nor journaled (read again)
                log.warning("batches: job %s not followed this time: %s", job.id, exc)
                if job.kind == RESPONSE:  # asked again after a pause that grows
                    until = retry_at(job, self.interval_s, datetime.now(UTC))
                    missing = isinstance(exc, Unanswered) and exc.status == 404
                    await self._db(back_off, self.engine, job.id, self.owner, until,
                                            missing=missing)  # fmt: skip
                else:
                    await self._db(release, self.engine, self.owner, job.id)
        return recorded

    async def _follow(self, job: JobRef) -> int:
        upstream = self.upstreams.named(job.upstream)
        if job.kind == RESPONSE:
            return await self._follow_response(upstream, job)
        wire = await self._json(upstream, f"/v1/batches/{job.id}")
        now = datetime.now(UTC)
        status = await self._db(update_status, self.engine, job.id, self.owner, wire, now)
        if status not in TERMINAL_STATUSES:
            await self._db(release, self.engine, self.owner, job.id)
            return 0
        ended = ended_at(wire, status) or now
        ctx = LineContext(job, ended, self.overrides())
        tally = LineTally()
        sink = self.lines()
        try:
            for kind in ("output", "error"):
                file_id = wire.get(f"{kind}_file_id")
                if isinstance(file_id, str) and file_id:
                    await self._ingest(upstream, file_id, kind, ctx, tally, sink)
        finally:
            await sink.finish()  # what was read is written (or journaled) before it counts
        await self._db(replace_booked, self.engine, job.id, tally.cost, datetime.now(UTC))
        done = await self._db(
            mark_recorded, self.engine, job.id, self.owner, tally.lines, tally.model,
            datetime.now(UTC),
        )  # fmt: skip
        if not done:
            log.warning("batches: lease on %s was lost while recording it", job.id)
        return 1

    async def _follow_response(self, upstream: Upstream, job: JobRef) -> int:
        """A background response: once it has ended, its one row (``_background``), then its
        budget booking replaced by that row's cost, then the response marked recorded. One
        deleted through the gateway, or answering 404 ``GIVE_UP_AFTER`` times in a row, is
        recorded ``unpriced`` (``lost_event``) and not read again."""
        if job.status == DELETED:
            return await self._give_up(job, DELETED)
        try:
            wire = await self._json(upstream, f"/v1/responses/{job.id}")
        except Unanswered as exc:
            if exc.status == 404 and job.misses + 1 >= GIVE_UP_AFTER:
                return await self._give_up(job, NOT_FOUND)
            raise
        now = datetime.now(UTC)
        status = await self._db(update_status, self.engine, job.id, self.owner, wire, now)
        if status not in RESPONSE_TERMINAL:
            await self._db(release, self.engine, self.owner, job.id)
            return 0
        event = response_event(job, wire, self.overrides(), now, regional=upstream.regional,
                               provider=upstream.provider)  # fmt: skip
        return await self._close(job, event)

    async def _give_up(self, job: JobRef, status: str) -> int:
        """The response's end can no longer be read: one ``unpriced`` row, said once."""
        event = lost_event(job, status, job.misses + 1, datetime.now(UTC))
        log.warning("batches: %s; recorded unpriced", event.error_message)
        return await self._close(job, event, status)

    async def _close(self, job: JobRef, event: UsageEvent, status: str | None = None) -> int:
        """Hand the response's row over, replace its booking, mark it recorded (``status``:
        the one it ended with when it was given up)."""
        self.submit([event])
        await self._db(replace_booked, self.engine, job.id, row_cost(event), datetime.now(UTC))
        now = datetime.now(UTC)
        if status is not None:
            await self._db(close_response, self.engine, job.id, None, now, status)
            return 1
        done = await self._db(
            mark_recorded, self.engine, job.id, self.owner, 1, event.model_served, now
        )
        if not done:
            log.warning("batches: lease on response %s was lost while recording it", job.id)
        return 1

    async def _ingest(
        self, upstream: Upstream, file_id: str, kind: str, ctx: LineContext, tally: LineTally,
        sink: LineSink,
    ) -> None:  # fmt: skip
        """Record every line of one file, counting them into ``tally``: ``_PAUSE_EVERY`` lines
        at a time are priced together and put in ``sink``."""
        call = ctx.call
        count = 0
        raws: list[bytes] = []
        async for raw in self._lines(upstream, f"/v1/files/{file_id}/content"):
            raws.append(raw)
            if len(raws) == _PAUSE_EVERY:
                events = line_events(raws, kind, count, ctx, call)
                count += len(raws)
                raws = []
                await self._hand_over(events, tally, sink)
        if raws:
            await self._hand_over(line_events(raws, kind, count, ctx, call), tally, sink)

    async def _hand_over(self, events: list[UsageEvent], tally: LineTally, sink: LineSink) -> None:
        for event in events:
            tally.add(event)
        await sink.put(events)
        await self._pause()

    async def _pause(self) -> None:
        """Give the loop to requests, and the recorder time to catch up if it lags."""
        await asyncio.sleep(0)
        for _ in range(1200):  # at most a minute; the queue itself bounds what is held
            if self.backlog() <= self.max_backlog:
                return
            await asyncio.sleep(0.05)

    async def _json(self, upstream: Upstream, path: str) -> dict[str, Any]:
        async with self.session.get(
            upstream.url(path, b""), headers=_auth(upstream), timeout=self.timeout
        ) as response:
            body = await response.read()
            if response.status >= 400:
                raise Unanswered(response.status, path)
        parsed = orjson.loads(body)
        if not isinstance(parsed, dict):
            raise ValueError(f"upstream answered a non-object for {path}")
        return parsed

    async def _lines(self, upstream: Upstream, path: str) -> AsyncIterator[bytes]:
        """A file's non-empty lines as they arrive (one line and one chunk held at a time)."""
        async with self.session.get(
            upstream.url(path, b""), headers=_auth(upstream), timeout=self.timeout
        ) as response:
            if response.status >= 400:
                raise ValueError(f"upstream answered {response.status} for {path}")
            partial = b""
            async for chunk in response.content.iter_chunked(_CHUNK):
                partial += chunk
                if b"\n" not in chunk:
                    continue
                *whole, partial = partial.split(b"\n")
                for line in whole:
                    if line.strip():
                        yield line
            if partial.strip():
                yield partial


class Unanswered(ValueError):
    """Upstream answered an error status about a job."""

    def __init__(self, status: int, path: str) -> None:
        super().__init__(f"upstream answered {status} for {path}")
        self.status = status


def retry_at(job: JobRef, interval_s: float, now: datetime) -> datetime:
    """When to ask again about a job upstream could not answer: after as long as it has
    gone unread (so the pause doubles), at least ``interval_s``, at most ``MAX_PAUSE_S``,
    with full jitter over its second half."""
    unread = (now - job.updated_at).total_seconds() if job.updated_at is not None else 0.0
    pause = min(MAX_PAUSE_S, max(interval_s, unread))
    return now + timedelta(seconds=pause * (0.5 + random.random() / 2))  # noqa: S311 - jitter


def _auth(upstream: Upstream) -> dict[str, str]:
    return {"Authorization": upstream.authorization} if upstream.authorization else {}
