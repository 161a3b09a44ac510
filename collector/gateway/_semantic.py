"""The semantic cache on the request path: embed a request's question, find the most similar
question answered in its bucket, and remember the question of each answer kept.

The embeddings call goes to the configured upstream through the same forwarder (routing,
keys, retries) and is metered like any request: a row of its own on ``/v1/embeddings``,
priced at the embedding model's rate, attributed to the asking request's key, project, user
and tags, its metadata marked ``_spendscope_cache: semantic_embedding`` so the semantic
cache's own cost can be summed. It is not admitted against budgets or rate limits (a fraction
of a cent, owed to a request that was), but once priced its cost is booked on every hard
budget covering the asking key, once by its request id, as a reported call is
(``Admitter.book``): a hard budget's counter holds all the spend its requests caused, so
later requests are held against it too. A failed or slow call
(``cache_semantic_timeout_s``) is recorded too, and the request simply goes upstream: the
cache never fails a request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import orjson

from collector.budgets import Subject
from collector.cache import Vector, VectorIndex, bucket_key, decode_vector, semantic_text
from collector.cache._mode import SEMANTIC_HIT_NOTE
from collector.gateway._exchange import Exchange
from collector.gateway._forward import Forwarder, Reply
from collector.gateway._intake import Call, parse_call
from collector.gateway._relay import settle_reply
from collector.pricing import PriceOverride
from collector.recorder import CACHE_KEY, new_request_id
from collector.settings import Settings
from collector.usage import Outcome

if TYPE_CHECKING:
    from collector.budgets import Admitter

log = logging.getLogger(__name__)
EMBEDDING_NOTE = "semantic_embedding"
HIT_NOTE = SEMANTIC_HIT_NOTE
_JSON = "application/json"
_HEADERS = ((b"content-type", _JSON.encode()),)


class Meter(Protocol):
    """What the embeddings call needs of the gateway's runtime."""

    overrides: Sequence[PriceOverride]

    admitter: Admitter | None

    @property
    def forwarder(self) -> Forwarder: ...

    def record(self, ex: Exchange) -> asyncio.Future[None] | None: ...


@dataclass(frozen=True, slots=True)
class Probe:
    """A request's question, embedded, and the bucket it is compared in."""

    bucket: str
    vector: Vector


class SemanticCache:
    """Embeds questions (metered) and searches and fills the vector index."""

    def __init__(self, settings: Settings, meter: Meter, index: VectorIndex) -> None:
        self.settings, self._meter, self.index = settings, meter, index

    async def probe(self, ex: Exchange, call: Call) -> Probe | None:
        """The request's question embedded in its bucket; None when it has none to compare,
        or the embeddings call failed (never raises)."""
        s, principal = self.settings, ex.principal
        if call.body is None or principal is None:
            return None
        text = semantic_text(call.path, call.body)
        if text is None:
            return None
        bucket = bucket_key(
            call.path,
            call.body,
            principal.project_id,
            shared=s.cache_shared_across_projects,
            model=s.cache_semantic_model,
        )
        try:
            vector = await self._embed(ex, text)
        except Exception:
            log.exception("semantic cache: embedding for %s failed", ex.id)
            return None
        return None if vector is None else Probe(bucket, vector)

    async def find(self, probe: Probe) -> tuple[str, float] | None:
        """The exact-cache key of the most similar question's answer, at or over the
        threshold, and its similarity."""
        try:
            match = await self.index.search(probe.bucket, probe.vector)
        except Exception:
            log.exception("semantic cache: search failed")
            return None
        if match is None or match[1] < self.settings.cache_semantic_threshold:
            return None
        return match

    async def remember(self, probe: Probe, key: str) -> None:
        try:
            await self.index.add(probe.bucket, key, probe.vector, self.settings.cache_ttl_s)
        except Exception:
            log.exception("semantic cache: could not keep a question")

    async def aclose(self) -> None:
        await self.index.aclose()

    async def _embed(self, parent: Exchange, text: str) -> Vector | None:
        """One metered embeddings call; the vector, or None when it gave none."""
        raw = orjson.dumps(
            {"model": self.settings.cache_semantic_model, "input": text,
             "encoding_format": "base64"}
        )  # fmt: skip
        call = parse_call("POST", "/v1/embeddings", b"", raw, _JSON)
        ex = Exchange(new_request_id(), datetime.now(UTC), time.perf_counter(), call.path)
        ex.call, ex.principal, ex.attribution = call, parent.principal, parent.attribution
        ex.notes = {CACHE_KEY: EMBEDDING_NOTE}
        vector = None
        try:
            forward = self._meter.forwarder.forward(call, _HEADERS, ex)
            result = await asyncio.wait_for(forward, self.settings.cache_semantic_timeout_s)
        except asyncio.CancelledError:  # the client left: the call is still a row
            ex.fail(Outcome.CANCELLED, "client_disconnected", "client left during the lookup")
            ex.settle(self._meter.overrides)
            self._record(ex)
            raise
        except TimeoutError:
            message = "the semantic cache's embeddings call timed out"
            ex.fail(Outcome.TIMEOUT, "timeout", message)
            if ex.attempts:
                ex.attempts[-1].error_type, ex.attempts[-1].error_message = "timeout", message
            ex.settle(self._meter.overrides)
        else:
            if isinstance(result, Reply):
                vector = self._settle(ex, call, result)
            else:
                outcome = Outcome.TIMEOUT if result.timed_out else Outcome.UPSTREAM_ERROR
                ex.fail(outcome, "upstream_unreachable", result.message)
                ex.settle(self._meter.overrides)
        self._record(ex)
        await self._book(ex)
        return vector

    def _record(self, ex: Exchange) -> None:
        if self.settings.record_requests:
            self._meter.record(ex)

    async def _book(self, ex: Exchange) -> None:
        """The call's cost on the hard budgets covering the asking key (never raises)."""
        admitter, cost, principal = self._meter.admitter, ex.cost.cost_usd, ex.principal
        if admitter is None or not cost or principal is None:
            return
        a = ex.attribution
        subject = Subject(principal.project, principal.key_prefix, a.end_user if a else None,
                          ex.model_served or self.settings.cache_semantic_model,
                          a.tags if a else {})  # fmt: skip
        await admitter.book([(subject, cost, ex.started_at, ex.id)], datetime.now(UTC))

    def _settle(self, ex: Exchange, call: Call, reply: Reply) -> Vector | None:
        if reply.response is not None:  # not JSON: nothing this cache can read
            reply.response.close()
            reply.body = b""
        settle_reply(ex, call, reply, self._meter.overrides)
        if reply.status != 200:
            log.warning("semantic cache: embeddings call answered %d", reply.status)
            return None
        try:
            data = orjson.loads(reply.body)["data"][0]["embedding"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            data = None
        vector = decode_vector(data)
        if vector is None:
            log.warning("semantic cache: the embeddings answer held no vector")
        return vector
