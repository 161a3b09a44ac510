"""Building the aiohttp app, and running it: in a background thread (tests) or blocking (CLI)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from aiohttp import web

from collector.mock_upstream._admin_api import book_history, costs, usage
from collector.mock_upstream._background import (
    BACKGROUND,
    cancel_response,
    delete_response,
    retrieve_response,
)
from collector.mock_upstream._batches import (
    BATCHES,
    cancel_batch,
    create_batch,
    list_batches,
    retrieve_batch,
)
from collector.mock_upstream._chat import chat_completions, completions
from collector.mock_upstream._config import MockConfig
from collector.mock_upstream._containers import create_container
from collector.mock_upstream._files import (
    FILES,
    FileStore,
    delete_file,
    file_content,
    list_files,
    retrieve_file,
    upload,
)
from collector.mock_upstream._http import STATE, openai_middleware
from collector.mock_upstream._media import (
    image_edits,
    image_file,
    image_variations,
    images,
    transcriptions,
)
from collector.mock_upstream._realtime import realtime, realtime_close
from collector.mock_upstream._responses import responses
from collector.mock_upstream._speech import speech
from collector.mock_upstream._state import MockState
from collector.mock_upstream._vectors import embeddings, get_model, list_models, moderations

_MAX_UPLOAD = 32 * 1024 * 1024
_SHUTDOWN_S = 1.0


def create_app(config: MockConfig) -> web.Application:
    """The fake OpenAI as an aiohttp application (state lives on the app, not in globals)."""
    app = web.Application(middlewares=[openai_middleware], client_max_size=_MAX_UPLOAD)
    app[STATE] = MockState(config)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/responses", responses)
    app.router.add_get("/v1/responses/{response_id}", retrieve_response)
    app.router.add_post("/v1/responses/{response_id}/cancel", cancel_response)
    app.router.add_delete("/v1/responses/{response_id}", delete_response)
    app[BACKGROUND] = {}
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model}", get_model)
    app.router.add_post("/v1/moderations", moderations)
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
    app.router.add_post("/v1/audio/speech", speech)
    app.router.add_post("/v1/images/generations", images)
    app.router.add_post("/v1/images/edits", image_edits)
    app.router.add_post("/v1/images/variations", image_variations)
    app.router.add_post("/v1/containers", create_container)
    app.router.add_get("/v1/realtime", realtime)
    app.router.add_get("/v1/organization/costs", costs)
    app.router.add_get("/v1/organization/usage/{endpoint}", usage)
    app[FILES] = files = FileStore()
    app[BATCHES] = {}
    app.on_cleanup.append(lambda _app: _close_files(files))
    app.router.add_post("/v1/files", upload)
    app.router.add_get("/v1/files", list_files)
    app.router.add_get("/v1/files/{file_id}", retrieve_file)
    app.router.add_delete("/v1/files/{file_id}", delete_file)
    app.router.add_get("/v1/files/{file_id}/content", file_content)
    app.router.add_post("/v1/batches", create_batch)
    app.router.add_get("/v1/batches", list_batches)
    app.router.add_get("/v1/batches/{batch_id}", retrieve_batch)
    app.router.add_post("/v1/batches/{batch_id}/cancel", cancel_batch)
    app.router.add_get("/_mock/images/{name}", image_file)
    app.router.add_get("/_mock/scenarios/{scenario}", _scenario_attempts)
    app.router.add_get("/_mock/realtime/{session}", realtime_close)
    app.router.add_post("/_mock/ledger", book_history)
    app.router.add_put("/_mock/keys", _accept_keys)
    app.router.add_route("*", "/v1/{tail:.*}", _not_found)
    return app


async def _scenario_attempts(request: web.Request) -> web.Response:
    """How many attempts the mock saw for one ``x-mock-scenario`` id (lets tests assert retries)."""
    scenario = request.match_info["scenario"]
    attempts = request.app[STATE].planner.attempts.get(scenario, 0)
    return web.json_response({"scenario": scenario, "attempts": attempts})


async def _accept_keys(request: web.Request) -> web.Response:
    """Replace the accepted API keys (``{"keys": [...]}``; null: any): revokes the others."""
    try:
        keys = (await request.json())["keys"]
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": 'expected {"keys": [key, ...] | null}'}, status=400)
    if keys is not None and not (isinstance(keys, list) and all(isinstance(k, str) and k
                                                                for k in keys)):  # fmt: skip
        return web.json_response({"error": "keys must be non-empty strings"}, status=400)
    request.app[STATE].keys = None if keys is None else frozenset(keys)
    return web.json_response({"accepted": None if keys is None else len(keys)})


async def _close_files(files: FileStore) -> None:
    files.close()


async def _not_found(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (several times faster for this workload), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class _ThreadServer:
    """One server on its own event loop in a daemon thread; start() returns once it listens."""

    def __init__(self, config: MockConfig) -> None:
        self._config = config
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._run, name="mock-upstream", daemon=True)
        self.sock = _bind("127.0.0.1", config.port)

    def start(self) -> str:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        port = self.sock.getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
        self._thread.join(timeout=_SHUTDOWN_S + 5)

    def _run(self) -> None:
        loop = new_loop()
        try:
            loop.run_until_complete(self._main(loop))
        except BaseException as exc:  # reported to the starting thread, never swallowed
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        runner = web.AppRunner(
            create_app(self._config), access_log=None, shutdown_timeout=_SHUTDOWN_S
        )
        await runner.setup()
        stopped = asyncio.Event()

        def stop() -> None:
            loop.call_soon_threadsafe(stopped.set)

        self._stop = stop
        try:
            await web.SockSite(runner, self.sock).start()
            self._ready.set()
            await stopped.wait()
        finally:
            await runner.cleanup()


@contextmanager
def run_in_thread(config: MockConfig) -> Iterator[str]:
    """Serve on 127.0.0.1 (``config.port``, 0 = a free port) in a background thread; yields the
    base URL to give the OpenAI SDK (``http://127.0.0.1:PORT/v1``) and stops cleanly on exit."""
    server = _ThreadServer(config)
    try:
        base_url = server.start()
    except BaseException:
        server.sock.close()
        raise
    try:
        yield base_url
    finally:
        server.stop()
        with suppress(OSError):
            server.sock.close()


def serve(config: MockConfig, announce: Callable[[str], None]) -> None:
    """Run until Ctrl-C on ``config.host:config.port`` (the CLI's blocking entry point)."""
    sock = _bind(config.host, config.port)
    port = sock.getsockname()[1]
    announce(f"spendscope mock-upstream listening on http://{config.host}:{port}/v1")
    web.run_app(
        create_app(config),
        sock=sock,
        access_log=None,
        print=None,
        shutdown_timeout=_SHUTDOWN_S,
        loop=new_loop(),
    )
