"""Latency and TTFT percentiles from summed histogram buckets (never from raw rows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from collector.analytics._frames import frame
from collector.analytics._model import Bucket, Filters, UnsupportedFilterError
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


def latency_over_time(engine: Engine, f: Filters, bucket: Bucket) -> pd.DataFrame:
    """Latency per time bucket and model (the model that served, else the one requested).

    Columns: ``ts`` (UTC bucket start), ``model``, ``requests``, ``p50_ms``, ``p95_ms``,
    ``p99_ms`` (whole-request duration), ``ttft_p50_ms``, ``ttft_p95_ms`` (streams only;
    NaN without streams), ``tokens_per_s`` (Σ completion tokens / Σ duration). Percentiles
    interpolate within the fixed buckets of ``collector.histogram``. Tag filters are not
    supported (the tag rollups carry no histograms).
    """
    if f.tags:
        raise UnsupportedFilterError("latency cannot be filtered by tag")
    sums = ("requests", "completion_tokens", "duration_ms_sum", *HISTOGRAM_COLUMNS)
    with engine.connect() as conn:
        cells = grouped(conn, f, ("model",), sums, bucket=bucket)
    rows = [_latency_row((*key, *values)) for key, values in sorted(cells.items())]
    return frame(rows, LATENCY_FRAME_COLUMNS, floats=LATENCY_FRAME_COLUMNS[3:])


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
