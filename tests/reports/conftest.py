"""The reports read the same hand-countable dataset as the query-layer tests."""

from tests.analytics.conftest import seeded

__all__ = ["seeded"]
