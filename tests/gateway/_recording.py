"""A recording upstream: a real HTTP server that notes every request it receives."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Seen:
    """What reached the upstream: (method, path, authorization) per request."""

    requests: list[tuple[str, str, str]] = field(default_factory=list)
    status: int = 200
    body: bytes = b'{"object": "list", "data": []}'


@contextmanager
def recording_upstream() -> Iterator[tuple[str, Seen]]:
    """Serve on a free port; yield its ``/v1`` base URL and the record."""
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            auth = self.headers.get("authorization") or ""
            seen.requests.append((self.command, self.path, auth))
            self.send_response(seen.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(seen.body)))
            self.end_headers()
            self.wfile.write(seen.body)

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _any

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: tests read ``seen`` instead."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()
