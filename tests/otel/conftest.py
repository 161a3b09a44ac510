"""A real OTLP receiver, plus the gateway fixtures shared with tests/gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.conftest import gateway, gateway_on, make_gateway, mock_base_url, sqlite_url
from tests.otel._receiver import Receiver

__all__ = ["gateway", "gateway_on", "make_gateway", "mock_base_url", "receiver", "sqlite_url"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()
