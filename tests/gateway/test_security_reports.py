"""Row 6: report parameters are validated before they reach a header; bad ones get a 422."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway._support import Gateway, GatewayFactory

ADMIN = "admin-token-0123456789"


@pytest.fixture
def api(make_gateway: GatewayFactory) -> httpx.Client:
    gw: Gateway = make_gateway(admin_token=ADMIN)
    root = gw.base_url.removesuffix("/v1")
    return httpx.Client(base_url=root, headers={"authorization": f"Bearer {ADMIN}"}, timeout=30)


@pytest.mark.parametrize(
    "month", ["2026-12\n", "2026-12\r\nSet-Cookie: a=b", " 2026-12", "２０２６-１２", "2026-12\t"]
)
@pytest.mark.parametrize("fmt", ["json", "csv", "focus"])
def test_a_month_with_control_characters_is_a_422(api: httpx.Client, month: str, fmt: str) -> None:
    response = api.get("/api/reports/chargeback", params={"month": month, "format": fmt})
    assert response.status_code == 422
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "YYYY-MM" in error["message"]


def test_a_valid_month_names_the_download(api: httpx.Client) -> None:
    response = api.get("/api/reports/chargeback", params={"month": "2026-12", "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        'attachment; filename="spendscope-csv-2026-12-project.csv"'
    )
