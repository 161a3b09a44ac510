"""What ``/metrics`` counts, aggregated per request into plain dicts (no I/O, no clock).

The gateway observes each recorded request once: a few dict operations keyed by label
tuples, instead of a labelled ``.inc()`` per metric. The exposition reads a :meth:`snapshot`
at scrape time. Money is summed as ``Decimal`` and becomes a float only there.

Labels a client controls are bounded: once a metric holds ``max_series`` label sets, a new
model (or upstream) is counted under ``"other"`` and the fold is counted in ``folded``;
endpoints outside the known set are ``"other"`` for the histograms. Project ids and outcomes
are kept raw (ids become label text at scrape time).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar, cast

from collector.recorder.events import UsageEvent

OTHER = "other"
DEFAULT_MAX_SERIES = 1000
# Request duration and time to first token, upper bounds (inclusive) in milliseconds; the
# exposition shows them in seconds. Bounds are whole ms, so ms / 1000 is the nearest float.
DURATION_BOUNDS_MS: tuple[float, ...] = (
    5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
    10000.0, 30000.0, 60000.0, 120000.0, 300000.0,
)  # fmt: skip
TTFT_BOUNDS_MS: tuple[float, ...] = (
    25.0, 50.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0, 3000.0,
    5000.0, 10000.0, 30000.0,
)  # fmt: skip
TOKEN_KINDS = ("prompt", "cached", "completion", "reasoning")
# Attempt status class by ``http_status // 100``; no status is the attempt's transport error.
_CLASSES = ("0xx", "1xx", "2xx", "3xx", "4xx", "5xx")
_TRANSPORT_ERRORS = frozenset({"timeout", "connection_error", "cancelled"})

K = TypeVar("K")
RequestKey = tuple[str, str, int | None]  # model, outcome, project id
CostKey = tuple[str, int | None, str]  # model, project id, cost source
AttemptKey = tuple[str, str]  # upstream, status class


@dataclass(slots=True)
class Totals:
    """Everything counted so far. A histogram row is its bucket counts (the last one +Inf)
    followed by the sum of the values in ms, in one list so that a copy is one step."""

    requests: dict[RequestKey, int] = field(default_factory=dict)
    cost: dict[CostKey, Decimal] = field(default_factory=dict)
    unpriced: dict[str, int] = field(default_factory=dict)  # by model
    tokens: dict[str, list[int]] = field(default_factory=dict)  # model -> TOKEN_KINDS
    attempts: dict[AttemptKey, int] = field(default_factory=dict)
    retried: dict[str, int] = field(default_factory=dict)  # by outcome
    duration: dict[str, list[float]] = field(default_factory=dict)  # by endpoint
    ttft: dict[str, list[float]] = field(default_factory=dict)  # by endpoint (streams)
    folded: dict[str, int] = field(default_factory=dict)  # by metric table


def status_class(http_status: int | None, error_type: str | None) -> str:
    """``2xx`` … ``5xx`` for an answered attempt; else its transport error (or ``error``)."""
    if http_status is not None:
        return _CLASSES[http_status // 100] if 0 <= http_status < 600 else "error"
    return error_type if error_type in _TRANSPORT_ERRORS else "error"


class Aggregate:
    """The counters of one gateway process; :meth:`observe` runs once per recorded request."""

    def __init__(
        self, *, max_series: int = DEFAULT_MAX_SERIES, endpoints: Collection[str] | None = None
    ) -> None:
        if max_series < 1:
            raise ValueError("max_series must be at least 1")
        self.max_series = max_series
        self._endpoints = frozenset(endpoints) if endpoints is not None else None
        self._t = Totals()

    def observe(self, event: UsageEvent) -> None:
        """Count one request: its outcome, money, tokens, attempts and timings."""
        model = event.model_served or event.model_requested or ""
        t = self._t
        key = (model, event.outcome, event.project_id)
        try:
            t.requests[key] += 1
        except KeyError:
            _bump(t.requests, self._admit(t.requests, key, "requests"), 1)
        self._money(t, model, event)
        row = t.tokens.get(model)
        if row is None:
            row = self._token_row(t, model)
        row[0] += event.prompt_tokens
        row[1] += event.cached_tokens
        row[2] += event.completion_tokens
        row[3] += event.reasoning_tokens
        if event.attempts:
            self._attempts(t, event)
        self._timings(t, event)

    def snapshot(self) -> Totals:
        """A copy to expose. Each copy is one C-level step (no Python code runs inside), so a
        scrape in another thread reads whole values while requests keep being counted."""
        t = self._t
        return Totals(
            requests=t.requests.copy(),
            cost=t.cost.copy(),
            unpriced=t.unpriced.copy(),
            tokens={m: row.copy() for m, row in t.tokens.copy().items()},
            attempts=t.attempts.copy(),
            retried=t.retried.copy(),
            duration={e: row.copy() for e, row in t.duration.copy().items()},
            ttft={e: row.copy() for e, row in t.ttft.copy().items()},
            folded=t.folded.copy(),
        )

    # --- the parts of one observation ------------------------------------------------
    def _money(self, t: Totals, model: str, event: UsageEvent) -> None:
        cost = event.cost_usd
        if cost is None:
            try:
                t.unpriced[model] += 1
            except KeyError:
                _bump(t.unpriced, self._admit(t.unpriced, model, "unpriced"), 1)
            return
        key = (model, event.project_id, event.cost_source)
        try:
            t.cost[key] += cost
        except KeyError:
            key = self._admit(t.cost, key, "cost")
            t.cost[key] = t.cost.get(key, Decimal(0)) + cost

    def _token_row(self, t: Totals, model: str) -> list[int]:
        """The token counts (by TOKEN_KINDS) of a model not seen yet."""
        return t.tokens.setdefault(self._admit(t.tokens, model, "tokens"), [0, 0, 0, 0])

    def _attempts(self, t: Totals, event: UsageEvent) -> None:
        for attempt in event.attempts:
            status = attempt.http_status
            if status is not None and 0 <= status < 600:
                cls = _CLASSES[status // 100]
            else:
                cls = status_class(status, attempt.error_type)
            key = (attempt.upstream or event.upstream or "", cls)
            try:
                t.attempts[key] += 1
            except KeyError:
                _bump(t.attempts, self._admit(t.attempts, key, "attempts"), 1)
        if len(event.attempts) > 1:
            t.retried[event.outcome] = t.retried.get(event.outcome, 0) + 1

    def _timings(self, t: Totals, event: UsageEvent) -> None:
        endpoint = event.endpoint
        if self._endpoints is not None and endpoint not in self._endpoints:
            endpoint = OTHER
        ms = event.duration_ms
        row = t.duration.get(endpoint)
        if row is None:
            row = self._histogram(t.duration, endpoint, "duration", len(DURATION_BOUNDS_MS))
        row[bisect_left(DURATION_BOUNDS_MS, ms)] += 1
        row[-1] += ms
        ttft = event.ttft_ms
        if event.stream and ttft is not None:
            row = t.ttft.get(endpoint)
            if row is None:
                row = self._histogram(t.ttft, endpoint, "ttft", len(TTFT_BOUNDS_MS))
            row[bisect_left(TTFT_BOUNDS_MS, ttft)] += 1
            row[-1] += ttft

    # --- bounding the label sets -----------------------------------------------------
    def _histogram(
        self, table: dict[str, list[float]], endpoint: str, metric: str, bounds: int
    ) -> list[float]:
        """The row of a new endpoint: ``bounds`` + 1 buckets (the last +Inf), then the sum."""
        endpoint = self._admit(table, endpoint, metric)
        return table.setdefault(endpoint, [0] * (bounds + 1) + [0.0])

    def _admit(self, table: Collection[K], key: K, metric: str) -> K:
        """``key`` itself while ``table`` has room, else the key with its first label folded
        into ``"other"`` (counted). Folded keys may add a few sets past the bound: their other
        labels (outcome, project, cost source, status class) are not the client's to choose."""
        if len(table) < self.max_series or key in table:
            return key
        self._t.folded[metric] = self._t.folded.get(metric, 0) + 1
        if isinstance(key, tuple):
            return cast(K, (OTHER, *key[1:]))
        return cast(K, OTHER)


def _bump(table: dict[K, int], key: K, amount: int) -> None:
    table[key] = table.get(key, 0) + amount
