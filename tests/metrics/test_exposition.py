"""The text exposition: Prometheus names, labels, cumulative buckets in seconds."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, cast

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from collector.metrics import DURATION_BOUNDS_MS, GatewayMetrics
from tests.factories import make_event

if TYPE_CHECKING:
    from collector.recorder import Recorder


def _samples(metrics: GatewayMetrics) -> list[Sample]:
    text = metrics.render().decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_traffic_is_exposed_with_standard_names_and_labels() -> None:
    metrics = GatewayMetrics()
    metrics.observe(make_event(project_id=3, cost_usd=Decimal("0.0000270000"), cached_tokens=7))
    metrics.observe(make_event(model_served=None, model_requested="x", cost_usd=None,
                               cost_source="unpriced", outcome="upstream_error"))  # fmt: skip
    samples = _samples(metrics)
    served = "gpt-4o-mini-2024-07-18"
    assert _value(samples, "spendscope_requests_total", outcome="success", model=served,
                  project="3") == 1  # fmt: skip
    assert _value(samples, "spendscope_requests_total", model="x", project="") == 1
    assert _value(samples, "spendscope_cost_usd_total", model=served, project="3",
                  cost_source="computed") == float(Decimal("0.0000270000"))  # fmt: skip
    assert _value(samples, "spendscope_unpriced_requests_total", model="x") == 1
    assert _value(samples, "spendscope_tokens_total", kind="cached", model=served) == 7
    assert _value(samples, "spendscope_tokens_total", kind="prompt", model=served) == 100


def test_histograms_are_cumulative_and_in_seconds() -> None:
    metrics = GatewayMetrics()
    for ms in (3.0, 40.0, 40.0, 900_000.0):
        metrics.observe(make_event(duration_ms=ms))
    samples = _samples(metrics)
    name = "spendscope_request_duration_seconds"
    endpoint = "/v1/chat/completions"
    buckets = [s for s in samples if s.name == f"{name}_bucket"]
    assert len(buckets) == len(DURATION_BOUNDS_MS) + 1
    assert _value(samples, f"{name}_bucket", endpoint=endpoint, le="0.005") == 1
    assert _value(samples, f"{name}_bucket", endpoint=endpoint, le="0.05") == 3
    assert _value(samples, f"{name}_bucket", endpoint=endpoint, le="300.0") == 3
    assert _value(samples, f"{name}_bucket", endpoint=endpoint, le="+Inf") == 4
    assert _value(samples, f"{name}_count", endpoint=endpoint) == 4
    assert _value(samples, f"{name}_sum", endpoint=endpoint) == (3 + 40 + 40 + 900_000) / 1000


def test_folds_are_exposed() -> None:
    metrics = GatewayMetrics(max_series=1)
    for n in range(4):
        metrics.observe(make_event(model_served=f"m-{n}"))
    samples = _samples(metrics)
    assert (
        _value(samples, "spendscope_metrics_folded_total", metric="spendscope_requests_total") == 3
    )
    assert _value(samples, "spendscope_requests_total", model="other") == 3


def test_every_folded_table_is_named_by_its_metric() -> None:
    metrics = GatewayMetrics(max_series=1)
    for n in range(3):
        attempt = make_event().attempts[0]
        attempt.upstream = f"u-{n}"
        metrics.observe(make_event(model_served=f"m-{n}", endpoint=f"/v1/e{n}", stream=True,
                                   ttft_ms=10.0, attempts=[attempt]))  # fmt: skip
        metrics.observe(make_event(model_served=f"m-{n}", cost_usd=None))
    folded = {
        s.labels["metric"] for s in _samples(metrics) if s.name == "spendscope_metrics_folded_total"
    }
    assert folded == {
        "spendscope_requests_total", "spendscope_cost_usd_total",
        "spendscope_unpriced_requests_total", "spendscope_tokens_total",
        "spendscope_upstream_attempts_total", "spendscope_request_duration_seconds",
        "spendscope_time_to_first_token_seconds",
    }  # fmt: skip


def test_without_a_recorder_only_traffic_and_process_figures_are_shown() -> None:
    names = {s.name for s in _samples(GatewayMetrics())}
    assert not any(n.startswith("spendscope_recorder_") for n in names)
    assert "spendscope_health_ok" not in names
    assert "process_resident_memory_bytes" in names


def test_recorder_figures_that_cannot_be_read_show_as_unhealthy() -> None:
    metrics = GatewayMetrics()
    metrics.observe(make_event())
    metrics.watch(cast("Recorder", object()), healthy=lambda: True)  # it has no stats to read
    samples = _samples(metrics)
    assert _value(samples, "spendscope_health_ok") == 0
    assert _value(samples, "spendscope_requests_total", outcome="success") == 1
