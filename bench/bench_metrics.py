"""What counting one request for ``/metrics`` costs on the hot path, and what a scrape costs.

Run: ``.venv/bin/python bench/bench_metrics.py [--iterations N]``. Prints a table of ns per
``GatewayMetrics.observe()`` for typical events (best of several runs), beside the same
counting done with prometheus_client's labelled metrics (``.labels(...).inc()`` and
``.observe()`` per request), and the time to render a scrape. Asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Histogram

from collector.metrics import DURATION_BOUNDS_MS, TTFT_BOUNDS_MS, GatewayMetrics, status_class
from collector.recorder import AttemptEvent, UsageEvent

T = datetime(2026, 12, 1, tzinfo=UTC)
CHAT = "/v1/chat/completions"


def _attempt(no: int, status: int) -> AttemptEvent:
    return AttemptEvent(attempt_no=no, started_at=T, duration_ms=40.0, upstream="default",
                        http_status=status)  # fmt: skip


def _event(**changes: object) -> UsageEvent:
    event = UsageEvent(
        id="01JBENCH", started_at=T, duration_ms=42.5, endpoint=CHAT, outcome="success",
        cost_source="computed", model_requested="gpt-4o-mini",
        model_served="gpt-4o-mini-2024-07-18", project_id=3, prompt_tokens=1234,
        cached_tokens=512, completion_tokens=321, reasoning_tokens=0,
        cost_usd=Decimal("0.0003781500"), upstream="default", attempts=[_attempt(1, 200)],
    )  # fmt: skip
    for name, value in changes.items():
        setattr(event, name, value)
    return event


def _scenarios() -> list[tuple[str, UsageEvent]]:
    return [
        ("chat, 1 try (typical)", _event()),
        ("stream with TTFT", _event(stream=True, ttft_ms=180.0)),
        (
            "3 tries (429, 503, 200)",
            _event(attempts=[_attempt(1, 429), _attempt(2, 503), _attempt(3, 200)]),
        ),
        ("unpriced", _event(cost_usd=None, cost_source="unpriced")),
        ("refused before upstream", _event(outcome="blocked", attempts=[], cost_usd=Decimal(0))),
    ]


class _Labelled:
    """The same figures with prometheus_client's own labelled metrics (what observe avoids)."""

    def __init__(self) -> None:
        r = CollectorRegistry()
        self.requests = Counter("r", "", ("outcome", "model", "project"), registry=r)
        self.cost = Counter("c", "", ("model", "project", "cost_source"), registry=r)
        self.tokens = Counter("t", "", ("kind", "model"), registry=r)
        self.attempts = Counter("a", "", ("upstream", "status_class"), registry=r)
        self.duration = Histogram("d", "", ("endpoint",), registry=r,
                                  buckets=[b / 1000 for b in DURATION_BOUNDS_MS])  # fmt: skip
        self.ttft = Histogram("f", "", ("endpoint",), registry=r,
                              buckets=[b / 1000 for b in TTFT_BOUNDS_MS])  # fmt: skip

    def observe(self, e: UsageEvent) -> None:
        model, project = e.model_served or e.model_requested or "", str(e.project_id or "")
        self.requests.labels(e.outcome, model, project).inc()
        if e.cost_usd is not None:
            self.cost.labels(model, project, e.cost_source).inc(float(e.cost_usd))
        for kind, n in (
            ("prompt", e.prompt_tokens),
            ("cached", e.cached_tokens),
            ("completion", e.completion_tokens),
            ("reasoning", e.reasoning_tokens),
        ):
            self.tokens.labels(kind, model).inc(n)  # fmt: skip
        for a in e.attempts:
            self.attempts.labels(a.upstream or "", status_class(a.http_status, None)).inc()
        self.duration.labels(e.endpoint).observe(e.duration_ms / 1000)
        if e.stream and e.ttft_ms is not None:
            self.ttft.labels(e.endpoint).observe(e.ttft_ms / 1000)


def _ns_per_call(call: Callable[[UsageEvent], None], event: UsageEvent, n: int, rep: int) -> float:
    best = float("inf")
    for _ in range(rep):
        start = time.perf_counter_ns()
        for _ in range(n):
            call(event)
        best = min(best, time.perf_counter_ns() - start)
    return best / n


def _scrape_ms(models: int, repeats: int) -> tuple[int, float]:
    """Render time of a scrape with ``models`` models seen (bytes, best ms)."""
    metrics = GatewayMetrics()
    for n in range(models):
        metrics.observe(_event(model_served=f"model-{n}"))
    best, size = float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        size = len(metrics.render())
        best = min(best, time.perf_counter() - start)
    return size, best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'event':<26} {'observe() ns':>13} {'labelled .inc() ns':>19}")
    print("-" * 60)
    for name, event in _scenarios():
        ours = _ns_per_call(GatewayMetrics().observe, event, args.iterations, args.repeats)
        labelled = _ns_per_call(_Labelled().observe, event, args.iterations, args.repeats)
        print(f"{name:<26} {ours:>13,.0f} {labelled:>19,.0f}")
    print()
    print(f"{'models seen':<12} {'scrape bytes':>13} {'render ms':>10}")
    print("-" * 37)
    for models in (1, 100, 1000):
        size, ms = _scrape_ms(models, 3)
        print(f"{models:<12} {size:>13,} {ms:>10.2f}")


if __name__ == "__main__":
    main()
