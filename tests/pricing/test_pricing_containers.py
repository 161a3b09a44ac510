"""A container made through /v1/containers: the catalog's session fee, or unpriced."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from collector.pricing import container_cost, parse_catalog
from collector.usage import CostSource

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_default_and_1g_containers_cost_the_published_session_fee() -> None:
    for memory in (None, "1g"):
        cost = container_cost(memory, NOW)
        assert (cost.cost_usd, cost.cost_source) == (Decimal("0.03"), CostSource.COMPUTED)
        assert cost.price_id == "code_interpreter@2025-05-21"


def test_a_size_without_a_catalog_rate_is_unpriced_with_its_reason() -> None:
    cost = container_cost("64g", NOW)
    assert (cost.cost_usd, cost.cost_source) == (None, CostSource.UNPRICED)
    assert cost.note is not None and "64g" in cost.note


def test_before_the_tool_price_existed_it_is_unpriced() -> None:
    cost = container_cost(None, datetime(2024, 1, 1, tzinfo=UTC))
    assert (cost.cost_usd, cost.cost_source, cost.price_id) == (None, CostSource.UNPRICED, None)


def test_a_catalog_without_tools_prices_nothing() -> None:
    catalog = parse_catalog("entries: []\n")
    assert container_cost("1g", NOW, catalog).cost_source is CostSource.UNPRICED
