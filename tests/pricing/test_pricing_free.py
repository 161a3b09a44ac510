"""The endpoints OpenAI does not charge for are a named $0, and nothing else is."""

from __future__ import annotations

from decimal import Decimal

import pytest

from collector.pricing import free_endpoint_cost
from collector.usage import CostSource


@pytest.mark.parametrize(
    ("method", "path", "price_id"),
    [
        ("GET", "/v1/models", "free:models"),
        ("GET", "/v1/models/gpt-4o-mini", "free:models"),
        ("GET", "/v1/models/ft:gpt-4o-mini-2024-07-18:acme::abc123", "free:models"),
        ("POST", "/v1/moderations", "free:moderations"),
    ],
)
def test_free_endpoints_cost_a_computed_zero(method: str, path: str, price_id: str) -> None:
    cost = free_endpoint_cost(method, path)
    assert cost is not None
    assert (cost.cost_usd, cost.cost_source, cost.price_id) == (
        Decimal(0),
        CostSource.COMPUTED,
        price_id,
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/v1/models/ft:gpt-4o-mini:acme::abc123"),  # deleting is not reading
        ("POST", "/v1/models"),
        ("GET", "/v1/models/"),
        ("GET", "/v1/models/a/b"),
        ("GET", "/v1/modelsx"),
        ("GET", "/v1/moderations"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/files"),
    ],
)
def test_other_endpoints_are_not_free(method: str, path: str) -> None:
    assert free_endpoint_cost(method, path) is None
