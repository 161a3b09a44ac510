"""The retention phase's helpers for ``bench_scale.py``: a writer recording meanwhile, and
the retention steps' times (module functions wrapped for the run)."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import scale_seed
from sqlalchemy import Engine


def writer(
    engine: Engine, at: datetime, stop: threading.Event, latencies: list[tuple[float, float]]
) -> None:
    """Record batches of 100 requests from ``at`` on until ``stop``; each batch's start and
    end (``time.perf_counter``)."""
    from collector.recorder import write_batch

    rng = random.Random(5)
    users = scale_seed.seed.setup_tenants(engine, rng)
    while not stop.is_set():
        batch = [
            scale_seed.seed.make_event(rng, rng.choice(users), at + timedelta(seconds=s))
            for s in range(100)
        ]
        at += timedelta(seconds=100)
        began = time.perf_counter()
        write_batch(engine, batch)
        latencies.append((began, time.perf_counter()))


GONE = "rows gone (below: its steps)"
SWAP = "swap (tables locked)"


@contextlib.contextmanager
def step_times(
    steps: dict[str, float], ends: dict[str, float], spans: dict[str, list[tuple[float, float]]]
) -> Iterator[None]:
    """Time retention's steps (module functions wrapped for the run, then put back); ``ends``:
    when each last ended."""
    from collector.db import month_cut, month_log, month_stage, retention

    wrapped = [
        (retention, "cut_old_months", GONE),
        (month_log, "has_droppable", "which months to cut"),
        (month_cut, "has_droppable", "of which: months read (not cut before)"),
        (month_stage, "stage_month", "stage (the month in use)"),
        (month_cut, "keeps_any", "stage: probe for kept rows"),
        (month_cut, "copy_rows", "stage: copy kept rows"),
        (month_cut, "index_like_parent", "stage: indexes"),
        (month_stage, "catch_up_until_few", "catch up"),
        (month_stage, "swap_month", SWAP),
        (retention, "_delete_in_batches", "batched delete"),
        (month_cut, "count_old_pairs", "then: old pair counted"),
        (retention, "drop_old_pairs", "old pair dropped"),
    ]
    saved = [(module, name, getattr(module, name)) for module, name, _ in wrapped]

    def timer(real: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                ends[label] = time.perf_counter()
                steps[label] = steps.get(label, 0.0) + ends[label] - began
                spans.setdefault(label, []).append((began, ends[label]))

        return timed

    for (module, name, label), (_, _, real) in zip(wrapped, saved, strict=True):
        setattr(module, name, timer(real, label))
    try:
        yield
    finally:
        for module, name, real in saved:
            setattr(module, name, real)


def overlapping(
    batches: list[tuple[float, float]], spans: dict[str, list[tuple[float, float]]]
) -> str:
    """The slowest writer batch that overlapped each step, and how many did."""
    parts = []
    for label in (SWAP, "stage (the month in use)", "then: old pair counted", "old pair dropped"):
        during = [
            (end - start) * 1000
            for start, end in batches
            if any(start < hi and end > lo for lo, hi in spans.get(label, []))
        ]
        if during:
            parts.append(f"during {label}: max {max(during):.0f} ms of {len(during)}")
    return "; ".join(parts)
