"""The gateway fixtures (mock upstream + real gateway over sockets), shared with tests/gateway."""

from tests.gateway.conftest import (
    gateway,
    gateway_on,
    make_gateway,
    mock_base_url,
    sqlite_url,
)

__all__ = ["gateway", "gateway_on", "make_gateway", "mock_base_url", "sqlite_url"]
