"""Row 8: limits beyond what the database holds are a 422 (API) or one line (CLI), not a crash."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from collector.cli import app
from tests.gateway._support import Gateway, GatewayFactory

ADMIN = "admin-token-0123456789"
HUGE = 99999999999999999999


def _api(gw: Gateway) -> httpx.Client:
    root = gw.base_url.removesuffix("/v1")
    return httpx.Client(base_url=root, headers={"authorization": f"Bearer {ADMIN}"}, timeout=30)


@pytest.mark.parametrize(
    "body",
    [
        {"project": "p", "rpm": HUGE},
        {"project": "p", "tpm": HUGE},
        {"project": "p", "rpm": 2_147_483_648},
        {"project": "p", "rpm": 0},
        {"project": "p", "tpm": -1},
    ],
)
def test_out_of_range_limits_are_a_422(gateway_on: GatewayFactory, body: dict[str, Any]) -> None:
    with _api(gateway_on(admin_token=ADMIN)) as api:
        response = api.post("/api/keys", json=body)
    assert response.status_code == 422, response.text
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_the_largest_limit_is_stored_and_read_back(gateway_on: GatewayFactory) -> None:
    gw = gateway_on(admin_token=ADMIN)
    with _api(gw) as api:
        created = api.post("/api/keys", json={"project": "p", "rpm": 2_147_483_647})
        assert created.status_code == 201, created.text
        listed = api.get("/api/keys").json()
    assert [k["rpm"] for k in listed] == [2_147_483_647]


@pytest.mark.parametrize("option", ["--rpm", "--tpm"])
def test_cli_refuses_a_huge_limit_in_one_line(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", migrated_url)
    result = CliRunner().invoke(app, ["keys", "create", "--project", "p", option, str(HUGE)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "2147483647" in lines[0]
