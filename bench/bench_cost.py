"""How many exact cost computations per second one process does (best of several runs).

Run: ``.venv/bin/python bench/bench_cost.py [--iterations N]``. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from collector.pricing import PriceOverride, compute_cost, load_catalog
from collector.usage import Usage

AT = datetime(2025, 9, 1, tzinfo=UTC)
START = datetime(2025, 1, 1, tzinfo=UTC)
CHAT = Usage(prompt_tokens=1234, cached_tokens=512, completion_tokens=321, reasoning_tokens=100)


def _overrides() -> list[PriceOverride]:
    """A realistic table: 20 unrelated model deals, one for gpt-4o, an org-wide discount."""
    rows = [
        PriceOverride(f"custom-{i}", START, input_per_1m=Decimal(1), output_per_1m=Decimal(2))
        for i in range(20)
    ]
    rows.append(
        PriceOverride("gpt-4o", START, input_per_1m=Decimal("2.2"), output_per_1m=Decimal(9))
    )
    rows.append(PriceOverride("*", START - timedelta(days=1), discount_pct=Decimal("7.5")))
    return rows


def _scenarios() -> list[tuple[str, Callable[[], object]]]:
    overrides = _overrides()
    audio = Usage(audio_seconds=Decimal("42.5"))
    return [
        ("plain (gpt-4o, cached)", lambda: compute_cost(CHAT, "gpt-4o", AT)),
        ("dated snapshot", lambda: compute_cost(CHAT, "gpt-4o-2024-05-13", AT)),
        ("priority tier (gpt-5)", lambda: compute_cost(CHAT, "gpt-5", AT, service_tier="priority")),
        ("batch (gpt-4.1-mini)", lambda: compute_cost(CHAT, "gpt-4.1-mini", AT, batch=True)),
        ("fine-tuned (pattern)", lambda: compute_cost(CHAT, "ft:gpt-4.1-2025-04-14:a::b", AT)),
        ("whisper-1 (per minute)", lambda: compute_cost(audio, "whisper-1", AT)),
        ("with 22 overrides", lambda: compute_cost(CHAT, "gpt-4o", AT, overrides=overrides)),
        ("unknown model", lambda: compute_cost(CHAT, "some-unknown-model", AT)),
    ]


def _rate(call: Callable[[], object], iterations: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            call()
        best = min(best, time.perf_counter() - start)
    return iterations / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("collector.pricing").setLevel(logging.ERROR)  # the unknown-model warning
    load_catalog()  # parse once, outside the timings
    print(f"{'scenario':<26} {'costs/s':>12} {'µs/cost':>9}")
    print("-" * 49)
    for name, call in _scenarios():
        rate = _rate(call, args.iterations, args.repeats)
        print(f"{name:<26} {rate:>12,.0f} {1e6 / rate:>9.2f}")


if __name__ == "__main__":
    main()
