"""A minimal pass-through proxy: the floor any Python gateway is measured against.

No auth, no token counting, no recording: read the request, forward it with one pooled
aiohttp client, relay the response (streams chunk by chunk, unbuffered). Two servers:

    python bench/passthrough.py --upstream http://127.0.0.1:8799/v1 --port 8790          # ASGI
    python bench/passthrough.py --upstream http://127.0.0.1:8799/v1 --port 8790 --server aiohttp

``asgi`` runs a bare ASGI callable on uvicorn (httptools + uvloop) — the same server stack as
``spendscope serve``, so the difference between the two is spendscope's own work.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp
from aiohttp import web

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_KEEP = ("content-type", "x-request-id", "openai-processing-ms")


def _session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600))


class AsgiPassthrough:
    """POST /v1/* → upstream base URL + the rest of the path, relayed unbuffered."""

    def __init__(self, upstream: str, api_key: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.auth = f"Bearer {api_key}"
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = _session()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        assert self.session is not None
        url = self.upstream + scope["path"].removeprefix("/v1")
        headers = {"authorization": self.auth, "content-type": "application/json"}
        async with self.session.request(scope["method"], url, data=body, headers=headers) as up:
            out = [(k.lower().encode(), v.encode()) for k, v in up.headers.items()
                   if k.lower() in _KEEP]  # fmt: skip
            await send({"type": "http.response.start", "status": up.status, "headers": out})
            async for chunk in up.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def aiohttp_app(upstream: str, api_key: str) -> web.Application:
    """The same forwarder on aiohttp's own server."""
    base, auth = upstream.rstrip("/"), f"Bearer {api_key}"
    app = web.Application()

    async def start(app: web.Application) -> None:
        app["session"] = _session()

    async def stop(app: web.Application) -> None:
        await app["session"].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        url = base + request.path.removeprefix("/v1")
        headers = {"authorization": auth, "content-type": "application/json"}
        session: aiohttp.ClientSession = request.app["session"]
        async with session.request(request.method, url, data=await request.read(),
                                   headers=headers) as up:  # fmt: skip
            response = web.StreamResponse(status=up.status)
            for name in _KEEP:
                if name in up.headers:
                    response.headers[name] = up.headers[name]
            await response.prepare(request)
            async for chunk in up.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_route("*", "/v1/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="Upstream base URL, e.g. …/v1")
    parser.add_argument("--api-key", default="sk-bench", help="Key sent upstream.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--server", choices=("asgi", "aiohttp"), default="asgi")
    args = parser.parse_args()
    if args.server == "aiohttp":
        import uvloop

        uvloop.install()
        web.run_app(aiohttp_app(args.upstream, args.api_key), host=args.host, port=args.port,
                    access_log=None, print=None)  # fmt: skip
        return
    import uvicorn

    app = AsgiPassthrough(args.upstream, args.api_key)
    uvicorn.run(app, host=args.host, port=args.port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning", lifespan="on")  # fmt: skip


if __name__ == "__main__":
    main()
