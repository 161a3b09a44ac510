"""Latency and TTFT percentiles from summed histogram buckets (never from raw rows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from collector.analytics._frames import frame
from collector.analytics._model import (
    FAILED_SERIES,
    OTHER_SERIES,
    Bucket,
    Filters,
    UnsupportedFilterError,
)
from collector.analytics._sql import grouped, label
from collector.histogram import BUCKET_COUNT, LATENCY_COLUMNS, TTFT_COLUMNS, percentile

LATENCY_FRAME_COLUMNS = (
    "ts", "model", "requests", "p50_ms", "p95_ms", "p99_ms",
    "ttft_p50_ms", "ttft_p95_ms", "tokens_per_s",
)  # fmt: skip


HISTOGRAM_COLUMNS = (*LATENCY_COLUMNS, *TTFT_COLUMNS)


def split_histograms(values: Sequence[Any]) -> tuple[list[int], list[int]]:
    """(latency counts, TTFT counts) from summed ``HISTOGRAM_COLUMNS`` values."""
    counts = [int(v or 0) for v in values]
    return counts[:BUCKET_COUNT], counts[BUCKET_COUNT : 2 * BUCKET_COUNT]


def tokens_per_second(completion_tokens: int, duration_ms_sum: float) -> float | None:
    """Output tokens per second of request time (Σ completion tokens / Σ duration)."""
    if duration_ms_sum <= 0:
        return None
    return completion_tokens / (duration_ms_sum / 1000)


ANSWERED = frozenset({"success", "client_error"})  # an upstream model answered these


def latency_over_time(
    engine: Engine, f: Filters, bucket: Bucket, *, top: int | None = None
) -> pd.DataFrame:
    """Latency per time bucket and model (the model that served, else the one requested).

    Columns: ``ts`` (UTC bucket start), ``model``, ``requests``, ``p50_ms``, ``p95_ms``,
    ``p99_ms`` (whole-request duration), ``ttft_p50_ms``, ``ttft_p95_ms`` (streams only;
    NaN without streams), ``tokens_per_s`` (Σ completion tokens / Σ duration). Percentiles
    interpolate within the fixed buckets of ``collector.histogram``. Requests that ended
    without an answer (upstream errors, timeouts, cancellations, blocks) are one series,
    ``FAILED_SERIES``: their time is retries and timeouts, not a model's speed. With ``top``,
    the ``top`` models by requests keep their name and the rest sum into ``OTHER_SERIES``
    (histograms add up, so its percentiles are exact too). Tag filters are not supported
    (the tag rollups carry no histograms).
    """
    if f.tags:
        raise UnsupportedFilterError("latency cannot be filtered by tag")
    sums = ("requests", "completion_tokens", "duration_ms_sum", *HISTOGRAM_COLUMNS)
    with engine.connect() as conn:
        cells = grouped(conn, f, ("model", "outcome"), sums, bucket=bucket)
    series = _series_names(cells, top)
    merged: dict[tuple[Any, str], list[Any]] = {}
    for (ts, model, outcome), values in cells.items():
        name = series.get(label(model), OTHER_SERIES) if outcome in ANSWERED else FAILED_SERIES
        known = merged.get((ts, name))
        merged[(ts, name)] = (
            values if known is None else [_add(a, b) for a, b in zip(known, values, strict=True)]
        )
    rows = [_latency_row((*key, *values)) for key, values in sorted(merged.items())]
    return frame(rows, LATENCY_FRAME_COLUMNS, floats=LATENCY_FRAME_COLUMNS[3:])


def _series_names(cells: dict[tuple[Any, ...], list[Any]], top: int | None) -> dict[str, str]:
    """Each answered model's series: its own name, unless beyond the ``top`` busiest."""
    traffic: dict[str, int] = {}
    for (_ts, model, outcome), values in cells.items():
        if outcome in ANSWERED:
            traffic[label(model)] = traffic.get(label(model), 0) + int(values[0] or 0)
    busiest = sorted(traffic, key=lambda m: (-traffic[m], m))
    if top is not None and len(busiest) > top + 1:  # folding one model into "other" hides it
        busiest = busiest[:top]
    return {m: m for m in busiest}


def _add(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else a + b


def _latency_row(row: Sequence[Any]) -> tuple[Any, ...]:
    ts, model, requests, completion, duration = row[:5]
    lat, ttft = split_histograms(row[5:])
    return (
        ts,
        label(model),
        int(requests or 0),
        percentile(lat, 0.50),
        percentile(lat, 0.95),
        percentile(lat, 0.99),
        percentile(ttft, 0.50),
        percentile(ttft, 0.95),
        tokens_per_second(int(completion), float(duration or 0)),
    )
