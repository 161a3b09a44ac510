"""Row 2: no body is buffered before the key is checked, and bodies held at once are capped."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

from tests.gateway._support import GatewayFactory

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _open(base_url: str, length: int, key: str | None) -> socket.socket:
    """A POST whose headers are sent in full and whose body is not sent yet."""
    parts = urlsplit(base_url)
    sock = socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10)
    head = [
        "POST /v1/chat/completions HTTP/1.1",
        f"Host: {parts.hostname}",
        "Content-Type: application/json",
        f"Content-Length: {length}",
    ]
    if key is not None:
        head.append(f"Authorization: Bearer {key}")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    return sock


def _answer(sock: socket.socket) -> tuple[int, dict[str, object]]:
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _padded(size: int) -> bytes:
    body = dict(CHAT, user="")
    body["user"] = "x" * (size - len(json.dumps(body).encode()))
    return json.dumps(body).encode()


def test_a_request_without_a_key_is_refused_before_its_body_arrives(
    make_gateway: GatewayFactory,
) -> None:
    gw = make_gateway()
    sock = _open(gw.base_url, 20 * 1024 * 1024, key=None)
    try:
        status, body = _answer(sock)  # no body byte was sent: only the headers were read
    finally:
        sock.close()
    assert status == 401
    assert body["error"]["code"] == "invalid_api_key"  # type: ignore[index]


def test_bodies_held_at_once_are_capped_and_given_back(make_gateway: GatewayFactory) -> None:
    gw = make_gateway(max_body_bytes=10_000, max_body_bytes_in_flight=15_000)
    key = gw.key()
    slow = _open(gw.base_url, 9_000, key)
    slow.sendall(b"{" * 100)  # the first request holds its 9,000 declared bytes
    time.sleep(0.2)
    try:
        second = _open(gw.base_url, 9_000, key)
        second.sendall(_padded(9_000))
        status, body = _answer(second)
        second.close()
    finally:
        slow.close()
    assert status == 503
    assert body["error"]["code"] == "server_busy"  # type: ignore[index]
    time.sleep(0.2)  # the first client left: its bytes are given back
    third = _open(gw.base_url, 9_000, key)
    third.sendall(_padded(9_000))
    status, _ = _answer(third)
    third.close()
    assert status == 200
    outcomes = sorted(r.outcome for r in gw.requests())
    assert outcomes == ["blocked", "cancelled", "success"]
