"""The response cache on the request path: a lookup before the upstream call, a store after
a cacheable answer (``collector.cache`` holds the keys, entries and stores).

A hit is answered in the shape it was cached in (JSON whole; SSE replayed, its usage chunk
stripped unless the client asked for usage), marked ``x-spendscope-cache: hit``, and
recorded as a request of its own: outcome ``cache_hit``, cost $0 ``computed`` (price
``cache:hit``), ``saved_usd`` the cost of the answer it replayed, and the upstream and
provider that served that answer. Only a complete, priced
(``computed``) success is kept, so every hit saves an exact amount.

With ``cache_semantic`` on, an exact miss asks the semantic cache (``_semantic``): a similar
enough question's answer is replayed the same way, its row priced ``cache:semantic`` and
marked ``_spendscope_cache: semantic_hit`` with the similarity, its response marked
``x-spendscope-cache-similarity``; a miss keeps the question's vector with the fresh answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from collector.cache import (
    HEADER,
    CachedAnswer,
    CacheMode,
    CacheStore,
    Capture,
    cache_key,
    decode_answer,
    encode_answer,
    make_store,
    opted_in,
    parse_mode,
    uncacheable_reason,
)
from collector.cache._mode import SEMANTIC_HIT_NOTE
from collector.errors import GatewayError
from collector.gateway._exchange import Exchange
from collector.gateway._forward import Failure, Reply
from collector.gateway._intake import Call
from collector.gateway._relay import Send, _finish, _ours, send_error
from collector.gateway._sse import StreamObserver
from collector.providers import OPENAI
from collector.recorder import CACHE_KEY, SIMILARITY_KEY
from collector.settings import Settings
from collector.usage import Cost, CostSource, Outcome

if TYPE_CHECKING:  # loads numpy: imported only where the semantic cache is on
    from collector.gateway._semantic import Probe, SemanticCache

log = logging.getLogger(__name__)
_HEADER = HEADER.encode()
_HIT_COST = Cost(Decimal(0), CostSource.COMPUTED, price_id="cache:hit")
_SEMANTIC_HIT_COST = Cost(Decimal(0), CostSource.COMPUTED, price_id="cache:semantic")
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the lookup did: ``answered`` (a hit, or a refused header), else the ``key`` to
    keep the fresh answer under (None: not cached)."""

    answered: bool = False
    key: str | None = None
    probe: Probe | None = None  # the question's vector, kept with the fresh answer


PASS = Lookup()
ANSWERED = Lookup(answered=True)


class ResponseCache:
    """The gateway's cache, opened by the runtime's lifespan (a store only when enabled)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.enabled = settings.cache_enabled
        self._store: CacheStore | None = None
        self._semantic: SemanticCache | None = None

    def open(self, store: CacheStore | None = None, semantic: SemanticCache | None = None) -> None:
        if self.enabled:
            self._store = store or make_store(self.settings)
            self._semantic = semantic

    async def aclose(self) -> None:
        if self._store is not None:
            await self._store.aclose()
            self._store = None
        if self._semantic is not None:
            await self._semantic.aclose()
            self._semantic = None

    async def lookup(
        self, headers: Sequence[tuple[bytes, bytes]], send: Send, ex: Exchange, call: Call
    ) -> Lookup:
        """Answer from the cache when it holds this request's answer."""
        store = self._store
        if store is None or ex.principal is None:
            return PASS
        try:
            mode = parse_mode(_header(headers))
        except GatewayError as exc:
            ex.refuse(exc)
            await send_error(send, ex, exc)
            return ANSWERED
        key = self._key(mode, ex, call)
        if key is None:
            return PASS
        if mode is not CacheMode.REFRESH and await self._answer(store, key, None, send, ex, call):
            return ANSWERED
        probe = None
        if self._semantic is not None:
            probe = await self._semantic.probe(ex, call)
            if probe is not None and mode is not CacheMode.REFRESH:
                found = await self._semantic.find(probe)
                if found is not None and await self._answer(store, *found, send, ex, call):
                    return ANSWERED
        if call.stream:
            ex.capture = Capture(self.settings.cache_max_entry_bytes)
        return Lookup(key=key, probe=probe)

    async def _answer(
        self, store: CacheStore, key: str, similarity: float | None, send: Send, ex: Exchange,
        call: Call,
    ) -> bool:  # fmt: skip
        """Replay the answer kept under ``key`` if there is one of the request's shape
        (``similarity``: found by the semantic cache)."""
        data = await store.get(key)
        answer = decode_answer(data) if data is not None else None
        if answer is None or answer.stream != call.stream:
            return False
        await _replay(send, ex, call, answer, similarity)
        return True

    def _key(self, mode: CacheMode | None, ex: Exchange, call: Call) -> str | None:
        s, principal = self.settings, ex.principal
        if principal is None or mode is CacheMode.OFF:
            return None
        if mode is None and not opted_in(
            principal.project, principal.key_prefix, s.cache_projects, s.cache_keys
        ):
            return None
        if uncacheable_reason(call.path, call.body) is not None or call.body is None:
            return None
        shared = s.cache_shared_across_projects
        return cache_key(call.path, call.body, principal.project_id, shared=shared)

    async def keep(self, lookup: Lookup, ex: Exchange, call: Call, result: Reply | Failure) -> None:
        """Store a complete, priced success under the lookup's key (never raises)."""
        store, key = self._store, lookup.key
        capture, ex.capture = ex.capture, None
        if store is None or key is None or not isinstance(result, Reply):
            return
        cost = ex.cost.cost_usd
        if (
            ex.outcome is not Outcome.SUCCESS
            or ex.http_status != 200
            or cost is None
            or ex.cost.cost_source is not CostSource.COMPUTED
        ):
            return
        if call.stream:
            streamed = capture.body() if capture is not None else None
            if streamed is None or ex.observer is None or not ex.observer.done:
                return
            body, content_type = streamed, "text/event-stream"
        elif result.response is None:
            body, content_type = result.body, result.headers.get("content-type", _JSON)
        else:
            return
        if len(body) > self.settings.cache_max_entry_bytes:
            return
        answer = CachedAnswer(
            ex.id, ex.model_served, cost, call.stream, content_type, body,
            upstream=ex.upstream, provider=ex.provider or OPENAI,
        )  # fmt: skip
        try:
            await store.set(key, encode_answer(answer), self.settings.cache_ttl_s)
        except Exception:
            log.exception("gateway: could not cache the answer of %s", ex.id)
            return
        if lookup.probe is not None and self._semantic is not None:
            await self._semantic.remember(lookup.probe, key)


def _header(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == _HEADER:
            return value.decode("latin-1")
    return None


async def _replay(
    send: Send, ex: Exchange, call: Call, answer: CachedAnswer, similarity: float | None
) -> None:
    """The cached answer, recorded as a ``cache_hit`` that saved the original's cost (a
    semantic hit: priced ``cache:semantic``, its similarity noted)."""
    ex.outcome, ex.http_status, ex.answered = Outcome.CACHE_HIT, 200, True
    ex.model_served, ex.cost = answer.model, _HIT_COST
    if similarity is not None:
        ex.cost = _SEMANTIC_HIT_COST
        notes = {CACHE_KEY: SEMANTIC_HIT_NOTE, SIMILARITY_KEY: round(similarity, 4)}
        ex.notes = {**(ex.notes or {}), **notes}
    ex.upstream, ex.provider = answer.upstream, answer.provider
    ex.cache_hit, ex.saved_usd = True, answer.cost_usd
    body = answer.body
    if answer.stream:
        observer = StreamObserver(call, strip_usage=call.force_usage)
        body = observer.feed(body) + observer.close()
        ex.ttft_ms = (time.perf_counter() - ex.t0) * 1000
    headers = [
        (b"content-type", answer.content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *_ours(ex, cost=True),
        (_HEADER, b"hit"),
        (b"x-spendscope-saved-usd", str(answer.cost_usd).encode()),
        (b"x-spendscope-cached-request-id", answer.request_id.encode()),
    ]
    if similarity is not None:
        headers.append((b"x-spendscope-cache-similarity", f"{similarity:.4f}".encode()))
    if answer.stream:
        headers = [h for h in headers if h[0] != b"content-length"]
    start = {"type": "http.response.start", "status": 200, "headers": headers}
    await _finish(send, ex, body, start)
