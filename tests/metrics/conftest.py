"""The gateway fixtures shared with tests/gateway (a real gateway over the mock upstream)."""

from __future__ import annotations

from tests.gateway.conftest import gateway, gateway_on, make_gateway, mock_base_url, sqlite_url

__all__ = ["gateway", "gateway_on", "make_gateway", "mock_base_url", "sqlite_url"]
