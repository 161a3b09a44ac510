"""Fixed latency buckets, so any range's percentiles come from summed rollup counts."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

# Upper bounds (inclusive) in milliseconds; the last bucket is open-ended.
LATENCY_BOUNDS_MS: tuple[float, ...] = (
    5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000,
    3000, 4000, 5000, 7500, 10000, 15000, 20000, 30000, 60000, 120000,
)  # fmt: skip
BUCKET_COUNT = len(LATENCY_BOUNDS_MS) + 1
LATENCY_COLUMNS: tuple[str, ...] = tuple(f"lat_b{i:02d}" for i in range(BUCKET_COUNT))
TTFT_COLUMNS: tuple[str, ...] = tuple(f"ttft_b{i:02d}" for i in range(BUCKET_COUNT))


# The bounds as floats: durations are floats, and comparing a float with an int takes
# CPython's slow mixed-type path; every bound is exact as a float.
_FLOAT_BOUNDS: tuple[float, ...] = tuple(float(b) for b in LATENCY_BOUNDS_MS)
# The bounds are whole milliseconds, so "bound < ms" is "bound < ceil(ms)": the bucket of
# any ms up to the last bound is a table lookup by ceil(ms) (bisect costs ~4x as much).
_BY_CEIL = bytes(int(LATENCY_BOUNDS_MS[0]) + 1) + b"".join(
    bytes([i]) * int(upper - lower)
    for i, (lower, upper) in enumerate(pairwise(LATENCY_BOUNDS_MS), start=1)
)


def bucket_index(ms: float) -> int:
    """Index of the bucket holding ``ms`` (upper bounds inclusive)."""
    return bisect_left(_FLOAT_BOUNDS, ms)


def bucket_counts(values: Sequence[float]) -> dict[int, int]:
    """How many ``values`` fall in each bucket (by index; empty buckets absent)."""
    try:
        if values and min(values) >= 0 and max(values) <= LATENCY_BOUNDS_MS[-1]:
            return Counter(map(_BY_CEIL.__getitem__, map(math.ceil, values)))
    except (ValueError, TypeError):  # NaN, or not a number: the general path decides
        pass
    return Counter(map(bucket_index, values))


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile (0..1) estimated from bucket counts by linear interpolation.

    Returns None for an empty histogram. Values in the open last bucket report its lower bound.
    """
    if not 0 <= q <= 1:
        raise ValueError("q must be within [0, 1]")
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            lower = 0.0 if i == 0 else LATENCY_BOUNDS_MS[i - 1]
            if i >= len(LATENCY_BOUNDS_MS):
                return float(lower)
            upper = LATENCY_BOUNDS_MS[i]
            fraction = (rank - seen) / count
            return lower + (upper - lower) * fraction
        seen += count
    return float(LATENCY_BOUNDS_MS[-1])
