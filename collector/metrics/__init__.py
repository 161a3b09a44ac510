"""The gateway's Prometheus ``/metrics``: requests counted per request into plain dicts,
exposed as metric families only when scraped (with the recorder's own figures)."""

from collector.metrics._aggregate import (
    DEFAULT_MAX_SERIES,
    DURATION_BOUNDS_MS,
    OTHER,
    TOKEN_KINDS,
    TTFT_BOUNDS_MS,
    Aggregate,
    Totals,
    status_class,
)
from collector.metrics._exposition import RECORDER_COUNTERS, GatewayMetrics

__all__ = [
    "DEFAULT_MAX_SERIES",
    "DURATION_BOUNDS_MS",
    "OTHER",
    "RECORDER_COUNTERS",
    "TOKEN_KINDS",
    "TTFT_BOUNDS_MS",
    "Aggregate",
    "GatewayMetrics",
    "Totals",
    "status_class",
]
