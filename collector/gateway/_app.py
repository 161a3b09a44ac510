"""The FastAPI application: lifespan-owned resources, ``/healthz``, ``/metrics``, the
``/v1`` proxy, and the ways in for calls that bypassed it (``/api/ingest``, ``/v1/traces``).

``/v1/...`` goes straight to a pure ASGI handler before FastAPI's middleware stack and router
(whose per-request cost docs/performance.md gives); lifespan, errors
and the small operational routes are FastAPI's, with dependencies as ``Annotated`` aliases.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import Receive, Scope, Send

from collector.admission import AdmissionPolicy
from collector.gateway._admin import engine_of, install_error_handlers
from collector.gateway._admin import router as admin_router
from collector.gateway._auth import require_metrics_token, require_viewer
from collector.gateway._ingest import ingest, otlp_traces
from collector.gateway._proxy import Proxy
from collector.gateway._realtime import RealtimeRelay
from collector.gateway._runtime import Runtime
from collector.recorder import WriterProcess
from collector.reports.api import make_router
from collector.secrets import install_log_redaction
from collector.settings import Settings, get_settings

OTLP_TRACES = "/v1/traces"  # OTLP/HTTP's path: not an OpenAI resource, served here (_paths)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


class GatewayApp(FastAPI):
    """FastAPI, with ``/v1/...`` HTTP requests dispatched to the proxy first and WebSockets
    to the Realtime relay."""

    proxy: Proxy
    realtime: RealtimeRelay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/v1/") and path != OTLP_TRACES:
            await self.proxy(scope, receive, send)
        elif scope["type"] == "websocket":
            await self.realtime(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None, *, admission: AdmissionPolicy | None = None
) -> FastAPI:
    """The gateway app; resources are created when it starts, not here.

    ``admission`` plugs in rate limits and budgets (see ``collector.gateway.AdmissionPolicy``);
    the default admits everything. Serve runs the database migrations before starting.
    """
    install_log_redaction()
    runtime = Runtime(settings or get_settings(), admission)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        runtime.metrics.watch(runtime.recorder, healthy=lambda: _healthy(runtime))
        try:
            yield
        finally:
            await runtime.stop()

    app = GatewayApp(
        title="spendscope gateway",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.runtime = runtime
    app.proxy = Proxy(runtime)
    app.realtime = RealtimeRelay(runtime)
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route(
        "/metrics", metrics, methods=["GET"], dependencies=[Depends(require_metrics_token)]
    )
    app.add_api_route("/api/ingest", ingest, methods=["POST"])
    app.add_api_route(OTLP_TRACES, otlp_traces, methods=["POST"])
    app.include_router(admin_router)
    app.include_router(make_router(engine_of, require_viewer))
    install_error_handlers(app)
    return app


def check_settings(settings: Settings) -> None:
    """Raise SettingsError (one line) when the gateway settings do not fit together."""
    Runtime(settings)


async def healthz(runtime: RuntimeDep) -> dict[str, Any]:
    """Liveness plus what an operator checks first: is anything waiting to be recorded?"""
    recorder = runtime.recorder
    reasons = recorder.health()
    journal = recorder.journal
    return {
        "status": "degraded" if reasons else "ok",
        "degraded": bool(reasons),
        "reasons": reasons,
        "in_flight": runtime.in_flight,
        "recorder_backlog": recorder.backlog,
        "spool_pending": len(recorder.spool.pending()),
        "recorder": {
            **asdict(recorder.stats),
            "oldest_unwritten_age_s": round(recorder.oldest_unwritten_age_s, 3),
            "spool_bytes": recorder.spool.pending_bytes(),
            "quarantine_files": len(recorder.spool.quarantined()),
            "journal": None
            if journal is None
            else {
                "durability": recorder.config.durability,
                "pending": journal.pending,
                "failures": journal.failures,
                "sync_failures": journal.sync_failures,
            },
            "writer": _writer_health(recorder.writer),
        },
    }


def _healthy(runtime: Runtime) -> bool:
    """Whether ``/healthz`` says ``ok`` (also ``spendscope_health_ok`` on ``/metrics``)."""
    return not runtime.recorder.degraded


async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus text exposition, rendered in a worker thread (the event loop keeps serving)."""
    body = await asyncio.to_thread(runtime.metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _writer_health(writer: object) -> dict[str, Any]:
    """Where batches are written: the writer process (its pid, how often one was started) or
    a thread of this process."""
    if isinstance(writer, WriterProcess):
        return {"mode": "process", "pid": writer.pid, "starts": writer.spawned}
    return {"mode": "in-process"}
