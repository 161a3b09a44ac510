"""The Prometheus side of ``/metrics``: metric families built from a snapshot at scrape time.

:class:`GatewayMetrics` counts requests (see :mod:`._aggregate`) and, as a
``prometheus_client`` collector, yields the families only when scraped; the recorder's
figures are read then too, so nothing is kept twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from collector.metrics._aggregate import (
    DEFAULT_MAX_SERIES,
    DURATION_BOUNDS_MS,
    TOKEN_KINDS,
    TTFT_BOUNDS_MS,
    Aggregate,
    Totals,
)

if TYPE_CHECKING:
    from collector.recorder import Recorder

log = logging.getLogger(__name__)

# RecorderStats counters: (field, metric name without ``_total``, help).
RECORDER_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("submitted", "recorder_events_submitted", "Requests handed to the recorder."),
    ("written", "recorder_events_written", "Requests written to the database as new rows."),
    ("duplicates", "recorder_events_duplicate", "Requests the database already held."),
    ("spooled", "recorder_events_spooled", "Requests written to the on-disk spool."),
    ("quarantined", "recorder_events_quarantined", "Requests set aside in the quarantine."),
    ("dropped", "recorder_events_dropped", "Requests lost: neither written nor spooled."),
    ("sanitised", "recorder_events_sanitised", "Requests whose values were made storable."),
    ("write_failures", "recorder_write_failures", "Batches the database did not take."),
    ("loop_restarts", "recorder_loop_restarts", "Restarts of the recorder's write loop."),
    ("adopted", "recorder_events_recovered", "Requests recovered from dead processes' journals."),
    ("direct", "recorder_events_direct", "Batch API lines the writer process took directly."),
    ("spool_failures", "recorder_spool_failures", "Failed writes to the spool."),
)

_HEALTH_DOC = "1 while /healthz says ok (and the recorder's figures can be read), else 0."
# The tables of Totals, by the metric each one is exposed as.
_FOLDED = {
    "requests": "requests_total",
    "cost": "cost_usd_total",
    "unpriced": "unpriced_requests_total",
    "tokens": "tokens_total",
    "attempts": "upstream_attempts_total",
    "duration": "request_duration_seconds",
    "ttft": "time_to_first_token_seconds",
}


class GatewayMetrics(Aggregate, Collector):
    """The gateway's ``/metrics``: ``observe`` each request; ``render`` the text exposition."""

    def __init__(
        self, *, max_series: int = DEFAULT_MAX_SERIES, endpoints: Collection[str] | None = None
    ) -> None:
        super().__init__(max_series=max_series, endpoints=endpoints)
        self._recorder: Recorder | None = None
        self._healthy: Callable[[], bool] | None = None
        self.registry = CollectorRegistry()
        self.registry.register(self)
        ProcessCollector(registry=self.registry)

    def watch(self, recorder: Recorder, healthy: Callable[[], bool]) -> None:
        """Expose ``recorder``'s figures and ``healthy()`` (what ``/healthz`` says) too."""
        self._recorder, self._healthy = recorder, healthy

    def render(self) -> bytes:
        """The text exposition (blocking: scrape it from a worker thread)."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        yield from traffic_families(self.snapshot())
        if self._recorder is not None and self._healthy is not None:
            try:
                families = list(recorder_families(self._recorder, self._healthy))
            except Exception:  # a figure that cannot be read must not fail the scrape
                log.exception("metrics: could not read the recorder's figures")
                families = [GaugeMetricFamily("spendscope_health_ok", _HEALTH_DOC, value=0)]
            yield from families


def traffic_families(t: Totals) -> Iterator[Metric]:
    """What the requests themselves add up to."""
    yield _counter(
        "requests", "Requests by outcome, model (served, else requested) and project id.",
        ("outcome", "model", "project"),
        (((o, m, _project(p)), n) for (m, o, p), n in t.requests.items()),
    )  # fmt: skip
    yield _counter(
        "cost_usd", "Cost in US dollars by model, project id and cost source.",
        ("model", "project", "cost_source"),
        (((m, _project(p), s), float(c)) for (m, p, s), c in t.cost.items()),
    )  # fmt: skip
    yield _counter(
        "unpriced_requests", "Requests with no price known (cost unknown, not $0).",
        ("model",), (((m,), n) for m, n in t.unpriced.items()),
    )  # fmt: skip
    tokens = (((k, m), row[i]) for m, row in t.tokens.items() for i, k in enumerate(TOKEN_KINDS))
    yield _counter(
        "tokens", "Tokens by kind and model (prompt includes cached; completion includes "
        "reasoning).", ("kind", "model"), tokens,
    )  # fmt: skip
    yield _counter(
        "upstream_attempts", "Upstream tries by upstream and status class (or transport error).",
        ("upstream", "status_class"), t.attempts.items(),
    )  # fmt: skip
    yield _counter(
        "retried_requests", "Requests that needed more than one try, by final outcome.",
        ("outcome",), (((o,), n) for o, n in t.retried.items()),
    )  # fmt: skip
    yield _histogram(
        "request_duration_seconds", "Request duration in the gateway, by endpoint.",
        DURATION_BOUNDS_MS, t.duration,
    )  # fmt: skip
    yield _histogram(
        "time_to_first_token_seconds", "Time to the first streamed token, by endpoint.",
        TTFT_BOUNDS_MS, t.ttft,
    )  # fmt: skip
    yield _counter(
        "metrics_folded", "Observations whose model, upstream or endpoint label was folded "
        "into 'other' to bound the label sets, by metric.",
        ("metric",), (((f"spendscope_{_FOLDED[m]}",), n) for m, n in t.folded.items()),
    )  # fmt: skip


def recorder_families(recorder: Recorder, healthy: Callable[[], bool]) -> Iterator[Metric]:
    """The recorder's own figures, read now."""
    stats = recorder.stats
    for attr, name, doc in RECORDER_COUNTERS:
        yield CounterMetricFamily(f"spendscope_{name}", doc, value=getattr(stats, attr))
    journal = recorder.journal
    yield CounterMetricFamily(
        "spendscope_recorder_journal_failures",
        "Appends that did not reach the journal (the request was not crash-safe).",
        value=journal.failures if journal is not None else 0,
    )
    spawned = getattr(recorder.writer, "spawned", None)
    if spawned is not None:
        yield CounterMetricFamily(
            "spendscope_recorder_writer_starts", "Writer processes started.", value=spawned
        )
    gauges: tuple[tuple[str, str, float], ...] = (
        ("recorder_queue_depth", "Requests waiting in memory.", recorder.backlog),
        (
            "recorder_oldest_unwritten_age_seconds",
            "Age of the oldest request neither written nor spooled.",
            recorder.oldest_unwritten_age_s,
        ),
        ("recorder_spool_bytes", "Size of the spool.", recorder.spool.pending_bytes()),
        (
            "recorder_quarantined_files",
            "Quarantined batches waiting for an operator.",
            len(recorder.spool.quarantined()),
        ),
        (
            "recorder_spool_pending_batches",
            "Spooled batches waiting to be replayed.",
            len(recorder.spool.pending()),
        ),
        ("health_ok", _HEALTH_DOC, 1 if healthy() else 0),
    )
    for name, doc, value in gauges:
        yield GaugeMetricFamily(f"spendscope_{name}", doc, value=value)


def _project(project_id: int | None) -> str:
    return "" if project_id is None else str(project_id)


def _counter(
    name: str, doc: str, labels: Sequence[str], values: Iterable[tuple[Sequence[str], float]]
) -> CounterMetricFamily:
    family = CounterMetricFamily(f"spendscope_{name}", doc, labels=labels)
    for label_values, value in values:
        family.add_metric(label_values, value)
    return family


def _histogram(
    name: str, doc: str, bounds_ms: Sequence[float], rows: dict[str, list[float]]
) -> HistogramMetricFamily:
    """Cumulative buckets in seconds from per-bucket counts in ms (+Inf last, then the sum)."""
    family = HistogramMetricFamily(f"spendscope_{name}", doc, labels=("endpoint",))
    edges = [*(repr(b / 1000) for b in bounds_ms), "+Inf"]
    for endpoint, row in rows.items():
        cumulative = list(accumulate(row[:-1]))
        family.add_metric(
            (endpoint,), list(zip(edges, cumulative, strict=True)), sum_value=row[-1] / 1000
        )
    return family
