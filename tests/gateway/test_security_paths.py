"""Row 1: no client path leaves ``/v1/`` upstream, where the server's key is attached."""

from __future__ import annotations

import http.client
import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from collector.batches import register_file
from collector.db import Project, session_scope
from tests.gateway._recording import recording_upstream
from tests.gateway._support import UPSTREAM_KEY, GatewayFactory

ESCAPES = [
    ("GET", "/v1/../internal/admin?x=1"),
    ("DELETE", "/v1/%2e%2e/%2e%2e/other/delete"),
    ("GET", "/v1/%2E%2E/internal"),
    ("GET", "/v1/models/..%2f..%2finternal"),
    ("GET", "/v1/models%2F..%2F..%2Finternal"),
    ("GET", "/v1/models%5c..%5c..%5cinternal"),
    ("GET", "/v1/models/\\..\\..\\internal"),
    ("GET", "/v1//internal/admin"),
    ("GET", "/v1/models//x"),
    ("GET", "/v1/./models"),
    ("GET", "/v1/models/..."),
    ("POST", "/v1/chat/../../internal"),
    ("GET", "/v1/internal/admin"),
    ("GET", "/v1/organization/admin_api_keys"),
    ("GET", "/v1/models/%00"),
]


def _send(base_url: str, method: str, path: str, key: str) -> tuple[int, bytes]:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.putheader("Authorization", f"Bearer {key}")
        conn.putheader("Content-Length", "0")
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize(("method", "path"), ESCAPES)
def test_paths_that_leave_v1_are_refused_and_never_forwarded(
    make_gateway: GatewayFactory, method: str, path: str
) -> None:
    with recording_upstream() as (upstream, seen):
        gw = make_gateway(upstream_base_url=upstream, max_attempts=1)
        status, body = _send(gw.base_url, method, path, gw.key())
    assert seen.requests == []
    assert status == 404
    error = json.loads(body)["error"]
    assert error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"}


def test_documented_paths_still_reach_the_upstream_with_the_server_key(
    make_gateway: GatewayFactory,
) -> None:
    with recording_upstream() as (upstream, seen):
        gw = make_gateway(upstream_base_url=upstream, max_attempts=1)
        models = gw.client().models.list()
        key = gw.key()
        with session_scope(gw.engine) as session:  # the key's project uploaded the file
            project_id = session.scalars(select(Project.id)).first()
        assert project_id is not None
        register_file(gw.engine, {"id": "file-abc_1:x"}, project_id=project_id, api_key_id=None,
                      now=datetime.now(UTC))  # fmt: skip
        status, _ = _send(gw.base_url, "GET", "/v1/files/file-abc_1:x?purpose=batch", key)
    assert models.data == []
    assert status == 200
    assert seen.requests == [
        ("GET", "/v1/models", f"Bearer {UPSTREAM_KEY}"),
        ("GET", "/v1/files/file-abc_1:x?purpose=batch", f"Bearer {UPSTREAM_KEY}"),
    ]
