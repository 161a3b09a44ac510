"""Schemathesis against the admin API's own OpenAPI document, as admin and as viewer.

Bounded (a few dozen examples per operation) so it runs in every ``make test``. Every
answer must be below 500, and every refusal must be in the API's error shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from collector.gateway import create_app
from collector.settings import Settings
from tests.gateway._server import GatewayServer

ADMIN = "admin-token-0123456789"
VIEWER = "viewer-token-0123456789"
ERROR_KEYS = {"message", "type", "param", "code"}

schema = schemathesis.openapi.from_dict(create_app(Settings(database_url="sqlite://")).openapi())


@pytest.fixture(scope="module")
def api_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One gateway for the whole module (the fuzz writes keys, budgets and rules)."""
    from tests.support.templates import migrate

    folder: Path = tmp_path_factory.mktemp("fuzz-admin")
    url = f"sqlite:///{folder / 'fuzz.db'}"
    migrate(url)
    options: dict[str, Any] = {
        "database_url": url,
        "spool_dir": folder / "spool",
        "admin_token": ADMIN,
        "viewer_tokens": VIEWER,
        "upstream_base_url": "http://127.0.0.1:9/v1",
        "recorder_flush_interval_ms": 10,
    }
    server = GatewayServer(Settings(**options)).start()
    yield server.base_url.removesuffix("/v1")
    server.stop()


@schema.parametrize()
@pytest.mark.parametrize("token", [ADMIN, VIEWER])
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_admin_api_never_answers_5xx_and_errors_keep_their_shape(
    case: schemathesis.Case[Any], token: str, api_base: str
) -> None:
    response = case.call(base_url=api_base, headers={"authorization": f"Bearer {token}"})
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert set(body["error"]) == ERROR_KEYS, body
