"""Run the gateway for real: uvicorn on a free port in a background thread with its own loop.

Tests talk to it with the official openai SDK over the socket, and read what it recorded
after :meth:`GatewayServer.flush` (the recorder runs on the server's loop).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI

from collector.gateway import create_app
from collector.gateway.serving import HTTP_PROTOCOL
from collector.settings import Settings

T = TypeVar("T")


async def _until(done: Callable[[], bool], poll_s: float = 0.005) -> None:
    """Poll ``done`` on the loop (the caller's ``run`` timeout bounds the wait)."""
    for _ in itertools.count():
        if done():
            return
        await asyncio.sleep(poll_s)


def _accounted(stats: Any) -> int:
    return int(stats.written + stats.duplicates + stats.spooled + stats.quarantined)


class GatewayServer:
    """One gateway process's worth of app, served until :meth:`stop`."""

    def __init__(self, settings: Settings) -> None:
        self.app: FastAPI = create_app(settings)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="on", loop="asyncio", http=HTTP_PROTOCOL
        )  # the serving program's HTTP protocol (``collector.gateway._http``)
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))

    def start(self) -> GatewayServer:
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("gateway failed to start")
            self._thread.join(0.01)
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def flush(self) -> None:
        """Wait until no request is in flight and the recorder wrote (or spooled) them all.

        A client can have its last byte before the gateway hands the request to the
        recorder, so "in flight" is waited out first.
        """
        self.run(self._settled())

    async def _settled(self) -> None:
        await _until(lambda: self.runtime.in_flight == 0)
        recorder = self.runtime.recorder
        await recorder.flush()
        # Recorder.flush returns while a taken batch is still being written; wait that out.
        await _until(lambda: recorder.stats.submitted <= _accounted(recorder.stats))

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(30)
        self.loop.close()
        self.sock.close()
