"""The gateway's resources, created and closed by the app's lifespan (nothing at import).

One engine, one pooled aiohttp session for every upstream, the recorder (started on enter;
stopped on exit, which drains within its timeout and spools the rest), the key cache, the
price overrides (loaded on start, refreshed in the background — never per request — and
replaced only when they changed, so pricing keeps the rates it resolved), and the spend
guards: the :class:`Admitter` (rate limits from ``make_limiter``, hard budgets) behind the
admission hook, the sweeper that releases holds of dead processes, and the
:class:`AlertEvaluator`, run every ``alert_interval_s`` and woken at once when a settle
moves a budget over a threshold (or the daily reconciliation with OpenAI's bill, run when an
admin key is set, stored a fetch), and the retention (``collector.db.retention``). The
``/metrics`` counters live here too: each recorded request is counted once, after its
hand-over to the recorder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import aiohttp
from sqlalchemy import Engine

from collector.admission import AdmissionPolicy, AllowAll
from collector.alerts import AlertEvaluator
from collector.budgets import Admitter, GatewayAdmission
from collector.db import make_engine, session_scope
from collector.db.retention import maintain_forever
from collector.gateway._batch_poller import BatchPoller
from collector.gateway._body import BodyBudget
from collector.gateway._cached import ResponseCache
from collector.gateway._exchange import Exchange
from collector.gateway._files import Owners
from collector.gateway._forward import Forwarder
from collector.gateway._intake import ENDPOINTS
from collector.gateway._upstream import UpstreamTable
from collector.keys import KeyCache, KeyPrincipal
from collector.metrics import GatewayMetrics
from collector.pricing import PriceOverride, load_overrides
from collector.ratelimit import make_limiter
from collector.reconcile import DailyReconciler
from collector.recorder import Recorder, RecorderConfig, UsageEvent, WriterProcess
from collector.recorder.direct import DirectLines
from collector.settings import Settings, load_settings
from collector.upstream_key_usage import refused_since

if TYPE_CHECKING:  # loads numpy: imported only when the semantic cache is on
    from collector.gateway._semantic import SemanticCache

log = logging.getLogger(__name__)
OVERRIDES_REFRESH_S = 60.0
SWEEP_INTERVAL_S = 60.0
KEY_SYNC_S = 10.0  # how soon a key refused in another process leaves this one's rotation
KEY_SYNC_FIRST = timedelta(hours=1)  # a process starting reads this far back, then only
KEY_SYNC_LOOKBACK = timedelta(seconds=45)  # the recent record (a poll + the recorder's lag)


class Runtime:
    """Everything a request needs that outlives it; ``start``/``stop`` bracket its use."""

    def __init__(self, settings: Settings, admission: AdmissionPolicy | None = None) -> None:
        self.settings = settings
        self.upstreams = UpstreamTable(settings)  # validates routes before anything starts
        self.admission: AdmissionPolicy = admission or AllowAll()
        self._own_admission = admission is None  # the lifespan builds budgets + rate limits
        self.admitter: Admitter | None = None
        self.alerts: AlertEvaluator | None = None
        self.batches: BatchPoller | None = None
        self.overrides: Sequence[PriceOverride] = ()
        self.in_flight = 0  # requests between arrival and their hand-over to the recorder
        self.metrics = GatewayMetrics(endpoints={path for _, path in ENDPOINTS} | {"/v1/realtime"})
        self.bodies = BodyBudget(settings.max_body_bytes_in_flight)
        self.cache = ResponseCache(settings)  # its store opens with the lifespan
        self._engine: Engine | None = None
        self._read_engine: Engine | None = None  # the read replica's, for alert measurements
        self._recorder: Recorder | None = None
        self._keys: KeyCache | None = None
        self._forwarder: Forwarder | None = None
        self._owners: Owners | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._keys_synced = False  # read the record of refused upstream keys once already

    # --- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        self._engine = make_engine(s.database_url, busy_timeout_ms=s.sqlite_busy_timeout_ms)
        writer = None
        if s.recorder_process and not _in_memory(self._engine):
            writer = WriterProcess(
                s.database_url,
                busy_timeout_ms=s.sqlite_busy_timeout_ms,
                cache_kib=s.recorder_sqlite_cache_mib * 1024,
            )
        config = _recorder_config(s, journal=not _in_memory(self._engine))
        self._recorder = Recorder(self._engine, s.spool_dir, config, writer)
        await self._recorder.start()
        self._keys = KeyCache(self._engine, ttl_s=s.key_cache_ttl_s)
        self._owners = Owners(self._engine)
        connector = aiohttp.TCPConnector(
            limit=s.upstream_max_connections, limit_per_host=0, ttl_dns_cache=300
        )
        session = aiohttp.ClientSession(
            connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",)
        )
        timeout = aiohttp.ClientTimeout(
            total=s.total_timeout_s, sock_connect=s.connect_timeout_s, sock_read=s.read_timeout_s
        )
        self._forwarder = Forwarder(session, self.upstreams, s, timeout)
        semantic = _semantic_cache(s, self) if s.cache_semantic else None
        self.cache.open(semantic=semantic)
        await self.refresh_overrides()
        self._tasks.append(asyncio.create_task(self._refresh_loop(), name="gateway-overrides"))
        self._tasks.append(asyncio.create_task(self._key_sync_loop(), name="upstream-key-sync"))
        self._start_guards(self._engine)
        if s.record_requests:
            self._start_batches(self._engine, session)
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # main thread only
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._reload_on_signal)

    def _start_batches(self, engine: Engine, session: aiohttp.ClientSession) -> None:
        """The Batch API poller: each ended job's lines become requests (see BatchPoller)."""
        s = self.settings
        self.batches = BatchPoller(
            engine,
            session,
            self.upstreams,
            self.submit_lines,
            lambda: self.overrides,
            lease_s=s.batch_lease_s,
            backlog=lambda: self.recorder.backlog,
            max_backlog=max(1, s.recorder_queue_size // 2),
            lines=self.open_lines,
        )
        poller = self.batches.run_forever(s.batch_poll_interval_s)
        self._tasks.append(asyncio.create_task(poller, name="batch-poller"))

    def _start_guards(self, engine: Engine) -> None:
        """Admission (unless one was given), the hold sweeper and the alert evaluator."""
        s = self.settings
        if s.reads_from_replica and s.read_database_url is not None:
            self._read_engine = make_engine(
                s.read_database_url, busy_timeout_ms=s.sqlite_busy_timeout_ms
            )
        self.alerts = alerts = AlertEvaluator(
            engine, s, self.recorder.health_codes, read_engine=self._read_engine
        )
        if self._own_admission:
            self.admitter = Admitter(
                engine, s, limiter=make_limiter(s), on_threshold=alerts.trigger
            )
            self.admission = GatewayAdmission(self.admitter)
            self._tasks.append(asyncio.create_task(self._sweep_loop(), name="budget-sweeper"))
        evaluator = alerts.run_forever(s.alert_interval_s)
        self._tasks.append(asyncio.create_task(evaluator, name="alert-evaluator"))
        daily = DailyReconciler(engine, s, on_done=alerts.trigger)
        if daily.enabled:
            self._tasks.append(asyncio.create_task(daily.run_forever(), name="reconciliation"))
        if s.retention_days is not None or engine.dialect.name == "postgresql":
            # one process per interval: retention, and PostgreSQL's months created ahead
            self._tasks.append(asyncio.create_task(maintain_forever(engine, s), name="retention"))

    def reload_upstream_keys(self) -> list[dict[str, str | int]]:
        """Re-read the settings (environment and ``.env``) and replace every upstream's keys
        (all or none: a bad value raises ``SettingsError`` and the keys in use stay)."""
        self.upstreams.reload_keys(load_settings())
        states = self.upstreams.key_states()
        log.warning("gateway: upstream keys reloaded: %d key(s)", len(states))
        return states

    def _reload_on_signal(self) -> None:
        try:
            self.reload_upstream_keys()
        except Exception as exc:  # a bad edit must not stop the gateway: keep the keys in use
            log.error("gateway: upstream keys not reloaded: %s", exc)

    async def stop(self) -> None:
        """Stop taking work: close the upstream pool, drain the recorder, book the queued
        settles, dispose the engine."""
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._forwarder is not None:
            await self._forwarder.session.close()
        await self.cache.aclose()
        if self._recorder is not None:
            await self._recorder.stop()
        if self.admitter is not None:
            await self.admitter.aclose()
        if self._engine is not None:
            self._engine.dispose()
        if self._read_engine is not None:
            self._read_engine.dispose()

    # --- what requests use -----------------------------------------------------------
    @property
    def recorder(self) -> Recorder:
        if self._recorder is None:
            raise RuntimeError("gateway runtime used before its lifespan started")
        return self._recorder

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("gateway runtime used before its lifespan started")
        return self._engine

    @property
    def owners(self) -> Owners:
        """Which project owns each file (the Files API's access checks)."""
        if self._owners is None:
            raise RuntimeError("gateway runtime used before its lifespan started")
        return self._owners

    @property
    def forwarder(self) -> Forwarder:
        if self._forwarder is None:
            raise RuntimeError("gateway runtime used before its lifespan started")
        return self._forwarder

    async def principal(self, raw_key: str) -> KeyPrincipal | None:
        """The key's principal from the cache (the database only on a miss)."""
        if self._keys is None:
            raise RuntimeError("gateway runtime used before its lifespan started")
        return await self._keys.get(raw_key)

    def forget_key(self, api_key_id: int) -> None:
        """A key revoked through this process's admin API is refused at once, here."""
        if self._keys is not None:
            self._keys.forget_key_id(api_key_id)

    def record(self, ex: Exchange) -> asyncio.Future[None] | None:
        """Hand the settled request to the recorder, then count it for ``/metrics``; a failure
        in either never reaches the client.

        Returns the recorder's durability future (``fsync`` durability), else None.
        """
        ex.recorded = True
        try:
            event = ex.to_event()
            durable = self.recorder.submit(event)
        except Exception:
            log.exception("gateway: could not record request %s", ex.id)
            return None
        try:
            self.metrics.observe(event)
        except Exception:
            log.exception("gateway: could not count request %s for /metrics", ex.id)
        return durable

    def open_lines(self) -> DirectLines:
        """Where one Batch API job's lines go: straight to the writer process, which the
        job's file (read again until the job is marked recorded) makes safe without the
        journal (``collector.recorder.direct``); counted for ``/metrics`` as they come."""
        return DirectLines(self.recorder, observe=self._observe_line)

    def _observe_line(self, event: UsageEvent) -> None:
        try:
            self.metrics.observe(event)
        except Exception:
            log.exception("gateway: could not count a batch line for /metrics")

    def submit_lines(self, events: Sequence[UsageEvent]) -> None:
        """Hand Batch API lines' rows to the recorder, one journal write for all (and count
        them for ``/metrics``)."""
        try:
            self.recorder.submit_many(events)
        except Exception:
            log.exception("gateway: could not record %d batch lines", len(events))
            return
        try:
            for event in events:
                self.metrics.observe(event)
        except Exception:
            log.exception("gateway: could not count batch lines for /metrics")

    async def refresh_overrides(self) -> None:
        """Reload price overrides; on failure keep the ones we have."""
        if self._engine is None:
            return
        try:
            loaded = await asyncio.to_thread(_load_overrides, self._engine)
        except Exception as exc:
            log.warning("gateway: price overrides not refreshed: %s", exc)
            return
        if not _same_overrides(loaded, self.overrides):
            self.overrides = loaded  # a new tuple: pricing resolves its rates afresh

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(OVERRIDES_REFRESH_S)
            await self.refresh_overrides()

    async def sync_upstream_keys(self) -> int:
        """Take out of rotation the keys other processes' tries found refused (the record
        every process writes is what they share); returns how many were taken out here."""
        upstreams = self.upstreams.all()
        if not any(len(u.keyring.keys) > 1 for u in upstreams):
            return 0  # one key per upstream: nothing to rotate to, nothing to read
        back = KEY_SYNC_LOOKBACK if self._keys_synced else KEY_SYNC_FIRST
        refused = await asyncio.to_thread(refused_since, self.engine, datetime.now(UTC) - back)
        self._keys_synced = True
        names = {u.name for u in upstreams}
        taken = 0
        for (name, last4), at in refused.items():
            if name in names and self.upstreams.named(name).keyring.learn(last4, at):
                taken += 1
        return taken

    async def _key_sync_loop(self) -> None:
        while True:
            await asyncio.sleep(KEY_SYNC_S)
            try:
                await self.sync_upstream_keys()
            except Exception as exc:
                log.warning("gateway: upstream key states not read: %s", exc)

    async def _sweep_loop(self) -> None:
        """Release expired holds (of processes that died before settling) now and then."""
        assert self.admitter is not None  # noqa: S101 - type narrowing: set whenever the admitter runs
        while True:
            try:
                released = await self.admitter.sweep(datetime.now(UTC))
                if released:
                    log.warning("gateway: released %d expired budget holds", released)
            except Exception as exc:
                log.warning("gateway: budget hold sweep failed: %s", exc)
            await asyncio.sleep(SWEEP_INTERVAL_S)


def _load_overrides(engine: Engine) -> tuple[PriceOverride, ...]:
    with session_scope(engine) as session:
        return tuple(load_overrides(session))


def _same_overrides(a: Sequence[PriceOverride], b: Sequence[PriceOverride]) -> bool:
    """Equal values and names: keeping the old tuple keeps pricing's remembered plans."""
    return tuple(a) == tuple(b) and [o.ref for o in a] == [o.ref for o in b]


def _in_memory(engine: Engine) -> bool:
    """An in-memory SQLite database, which no other process can open."""
    database = engine.url.database
    return engine.dialect.name == "sqlite" and (not database or ":memory:" in database)


def _recorder_config(s: Settings, *, journal: bool) -> RecorderConfig:
    """The recorder's settings; no journal for an in-memory database, which dies with us."""
    return RecorderConfig(
        queue_size=s.recorder_queue_size,
        batch_size=s.recorder_batch_size,
        flush_interval_s=s.recorder_flush_interval_ms / 1000,
        shutdown_timeout_s=s.recorder_shutdown_timeout_s,
        replay_interval_s=s.spool_replay_interval_s,
        journal=journal,
        durability=s.recorder_durability,
        lag_bound_s=s.recorder_lag_bound_s,
        min_free_bytes=s.spool_min_free_mib << 20,
    )


def _semantic_cache(settings: Settings, runtime: Runtime) -> SemanticCache:
    """The semantic cache, imported only when it is on (it loads numpy)."""
    from collector.cache import make_index
    from collector.gateway._semantic import SemanticCache

    return SemanticCache(settings, runtime, make_index(settings))
